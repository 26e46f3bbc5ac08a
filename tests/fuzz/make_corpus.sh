#!/usr/bin/env bash
# Regenerates the seed corpora in tests/fuzz/corpus/<target>/ (a few valid and
# a few broken files each). Only bash and printf needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
c=$here/corpus
rm -rf "$c"
mkdir -p "$c/fuzz_safetensors" "$c/fuzz_npy" "$c/fuzz_json_config" "$c/fuzz_adapter_config" "$c/fuzz_subspace"

le64() { # 8 little-endian bytes of $1
    local v=$1 i s=""
    for i in 0 1 2 3 4 5 6 7; do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done
    printf "$s"
}
st() { # st <file> <json> <data bytes as printf escapes> [<target>]
    { le64 ${#2}; printf '%s' "$2"; printf "$3"; } > "$c/${4:-fuzz_safetensors}/$1"
}
z16='\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0'
st valid_f32 '{"__metadata__":{"format":"pt"},"base_model.model.l.lora_A.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' "\x00\x00\x80\x3f$z16"; truncate -s -4 "$c/fuzz_safetensors/valid_f32"
st valid_mixed '{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"c":{"dtype":"BF16","shape":[],"data_offsets":[12,14]},"d":{"dtype":"U8","shape":[0],"data_offsets":[14,14]},"e":{"dtype":"I32","shape":[1,1],"data_offsets":[14,18]},"f":{"dtype":"F64","shape":[1],"data_offsets":[18,26]}}' '\x01\0\0\0\0\0\0\0\x00\x3c\x00\x7c\x80\x3f\xff\xff\xff\xff\0\0\0\0\0\0\xf0\x7f'
st valid_empty '{}      ' ''
st bad_overlap '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}' "$z16\0\0\0\0\0\0\0\0"
st bad_oob '{"x":{"dtype":"F32","shape":[24],"data_offsets":[0,96]}}' "$z16"
st bad_dtype '{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}' '\0\0\0\0'
st bad_meta '{"__metadata__":{"format":1}}' ''
printf '\xff\xff\xff\xff\xff\xff\xff\xff{}' > "$c/fuzz_safetensors/bad_len"

npy() { # npy <file> <version> <dict> <data escapes>
    local pre=10 hl
    [ "$2" = 1 ] || pre=12
    hl=$((${#3} + 1))
    hl=$((hl + (64 - (pre + hl) % 64) % 64))
    {
        printf '\x93NUMPY'
        printf "$(printf '\\x%02x\\x00' "$2")"
        if [ "$2" = 1 ]; then printf "$(printf '\\x%02x\\x%02x' $((hl & 255)) $((hl >> 8)))"
        else printf "$(printf '\\x%02x\\x%02x\\x00\\x00' $((hl & 255)) $((hl >> 8)))"; fi
        printf '%s' "$3"
        printf '%*s' $((hl - ${#3} - 1)) ''
        printf '\n'
        printf "$4"
    } > "$c/fuzz_npy/$1"
}
npy f4_1d 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" '\x00\x00\x80\x3f\x00\x00\x00\xc0'
npy f8_2d 2 "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }" '\0\0\0\0\0\0\xf0\x3f'
npy i8_scalar 3 "{'descr': '<i8', 'fortran_order': False, 'shape': (), }" '\x07\0\0\0\0\0\0\0'
npy u1_3d 1 "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 1), }" '\x01\xff'
npy f2 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }" '\x01\x00\x00\x7c'
npy bad_fortran 1 "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }" '\0\0\0\0'
npy bad_be 1 "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }" '\0\0\0\0'
npy bad_trunc 1 "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" '\0\0\0\0'
npy bad_overflow 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }" ''

j=$c/fuzz_json_config
printf '%s\n' '{"peft_type": "FOURIERFT", "task_type": null, "n_frequency": 1000, "scaling": 150.0, "random_loc_seed": 777, "init_weights": false, "n_frequency_pattern": {}, "target_modules": ["q_proj", "v_proj"], "fan_in_fan_out": false, "inference_mode": true}' > "$j/fourierft.json"
printf '%s\n' '{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": "q_proj|v_proj", "layers_to_transform": [0, 1, 2], "revision": null, "peft_version": "0.18.0\u00e9"}' > "$j/lora.json"
printf '%s' '[1, -2.5e-3, "x\"y", {"a": [true, false, null]}]' > "$j/array.json"
printf '%s' '{"a": 1, "a": 2}' > "$j/bad_dup.json"
printf '%s' '{"a": "\u0000"}' > "$j/bad_nul.json"
printf '%s' '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]' > "$j/bad_deep.json"
printf '%s' '{"r": 8,}' > "$j/bad_comma.json"

# adapter_config.json of every method (what prism writes, with other values),
# and configs a method refuses
a=$c/fuzz_adapter_config
hf='"task_type": null, "base_model_name_or_path": null, "revision": null, "inference_mode": true'
cfg() { printf '{"peft_type": "%s", %s, "target_modules": ["q_proj"], %s}\n' "$2" "$hf" "$3" > "$a/$1.json"; }
cfg none NONE '"x": 1'
cfg full FULL '"train_bias": false'
cfg lora LORA '"r": 4, "lora_alpha": 16, "lora_dropout": 0, "fan_in_fan_out": false, "bias": "none", "use_rslora": false, "use_dora": false, "init_lora_weights": true'
cfg ether ETHER '"blocks": 2, "side": "out"'
cfg etherplus ETHER_PLUS '"blocks": 4, "side": "both"'
cfg hut HIRA '"r": 3, "hira_dropout": 0, "fan_in_fan_out": false, "init_weights": true, "rank_pattern": {}'
cfg sdctft SDCTFT '"n_coef": 70, "alpha": 30, "delta": 0.5, "dct_norm": "ortho", "seed": 9, "init_zero": true'
cfg fourierft FOURIERFT '"n_frequency": 100, "scaling": 15.5, "random_loc_seed": 7, "init_weights": false, "n_frequency_pattern": {}, "fan_in_fan_out": false, "bias": "none"'
cfg xpeft XPEFT '"r": 2, "n_bank": 16, "k": 0, "mask": "soft", "placement": "serial", "activation": "relu", "bank_source": "seed", "bank_seed": "12345678901234567890"'
cfg subspace SUBSPACE '"subspace_via": "hut", "subspace_rank": 4, "subspace_member": {"peft_type": "HIRA", "r": 2}'
cfg bad_r LORA '"r": 0'
cfg bad_dora LORA '"use_dora": true'
cfg bad_via SUBSPACE '"subspace_via": "subspace", "subspace_member": {"peft_type": "SUBSPACE"}'
cfg bad_member SUBSPACE '"subspace_via": "lora", "subspace_member": {"peft_type": "HIRA"}'
printf '{"peft_type": "NOPE"}' > "$a/bad_type.json"
printf '{"r": 8}' > "$a/bad_no_type.json"
# findings kept as regressions: a 16-digit seed that cJSON printed with 15
# digits (CI), a float at 3e38 that read back above a "<= 3e38" check
printf '%s\n' '{"peft_type": "SDCTFT", "seed": 000008810505810008951}' > "$a/ci-crash-seed-leading-zeros.json"
printf '%s\n' '{"peft_type": "SDCTFT", "aoef": 70, "alpha": 300000000000000000000000000000000000000,"de`to": true}' > "$a/ci-crash-alpha-3e38.json"

# subspace files (metadata format prism-subspace, version 1): LoRA at rank 2
# with sigma and coords; LoRA + FourierFT; sDCTFT with a frozen int64 index;
# then the same truncated and with broken metadata
one='\x00\x00\x80\x3f' half='\x00\x00\x00\x3f'
f32() { local i s=""; for ((i = 0; i < $1; i++)); do [ $((i % 2)) = 0 ] && s+=$one || s+=$half; done; printf '%s' "$s"; }
ss_meta() { # ss_meta <rank> <methods> <per-method metadata>
    printf '"__metadata__":{"format":"prism-subspace","version":"1","rank":"%s","methods":"%s","init":"i","normalize":"method"%s}' "$1" "$2" "$3"
}
lora_meta=',"config.lora":"{\"peft_type\":\"LORA\",\"r\":1,\"lora_alpha\":2}","layout.lora":"[[\"m\",\"lora_A.weight\",[1,2],0],[\"m\",\"lora_B.weight\",[2,1],2]]","scale.lora":"0.5"'
ff_meta=',"config.fourierft":"{\"peft_type\":\"FOURIERFT\",\"n_frequency\":3}","layout.fourierft":"[[\"a\",\"fourierft_spectrum\",[3],0]]","scale.fourierft":"1"'
sd_meta=',"config.sdctft":"{\"peft_type\":\"SDCTFT\",\"n_coef\":2}","layout.sdctft":"[[\"m\",\"sdctft_coef\",[2],0]]"'
sst() { st "$1" "$2" "$3" fuzz_subspace; }
sst lora_r2 "{$(ss_meta 2 '[\"lora\"]' "$lora_meta"),\"lora.theta0\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"lora.decoder\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[16,48]},\"sigma\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]},\"coords\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[56,80]}}" "$(f32 20)"
sst lora_fourierft "{$(ss_meta 1 '[\"lora\",\"fourierft\"]' "$lora_meta$ff_meta"),\"lora.theta0\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"lora.decoder\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[16,32]},\"fourierft.theta0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[32,44]},\"fourierft.decoder\":{\"dtype\":\"F16\",\"shape\":[3,1],\"data_offsets\":[44,50]}}" "$(f32 11)\x00\x3c\x00\xbc\x00\x38"
sst sdctft_frozen "{$(ss_meta 1 '[\"sdctft\"]' "$sd_meta"),\"sdctft.theta0\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"sdctft.decoder\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[8,16]},\"sdctft.frozen.m.sdctft_index\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[16,32]}}" "$(f32 4)\x01\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0"
s=$c/fuzz_subspace
head -c 200 "$s/lora_r2" > "$s/trunc_header"
head -c $(($(wc -c < "$s/lora_r2") - 4)) "$s/lora_r2" > "$s/trunc_data"
sed 's/\[\[\\"m\\",\\"lora_A.weight\\",\[1,2\],0\],\[\\"m\\",\\"lora_B.weight\\",\[2,1\],2\]\]/[[\\"m\\",\\"lora_B.weight\\",[2,1],0],[\\"m\\",\\"lora_A.weight\\",[1,2],2]]/' "$s/lora_r2" > "$s/bad_order"
sed 's/"rank":"2"/"rank":"0"/' "$s/lora_r2" > "$s/bad_rank"
sed 's/"version":"1"/"version":"2"/' "$s/lora_r2" > "$s/bad_version"
echo "corpus written to $c"
