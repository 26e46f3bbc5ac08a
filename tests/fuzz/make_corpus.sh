#!/usr/bin/env bash
# Regenerates the seed corpora in tests/fuzz/corpus/<target>/ (a few valid and
# a few broken files each). Only bash and printf needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
c=$here/corpus
rm -rf "$c"
mkdir -p "$c/fuzz_safetensors" "$c/fuzz_npy" "$c/fuzz_json_config"

le64() { # 8 little-endian bytes of $1
    local v=$1 i s=""
    for i in 0 1 2 3 4 5 6 7; do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done
    printf "$s"
}
st() { # st <file> <json> <data bytes as printf escapes>
    { le64 ${#2}; printf '%s' "$2"; printf "$3"; } > "$c/fuzz_safetensors/$1"
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
echo "corpus written to $c"
