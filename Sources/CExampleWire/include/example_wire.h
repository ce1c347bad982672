#ifndef PRISM_EXAMPLE_WIRE_H
#define PRISM_EXAMPLE_WIRE_H
// Zero-copy scanning of serialized tf.Example / tf.SequenceExample (see Sources/PrismData/ExampleWire.swift,
// which wraps it). Validates the whole payload with protobuf-c 1.4's rules and records, for every feature, where
// its key and its list message are and how many values it has; nothing is copied or allocated per record.
#include <stddef.h>
#include <stdint.h>

enum { PW_NONE = 0, PW_BYTES = 1, PW_FLOAT = 2, PW_INT64 = 3 };

// One feature (or one step of a feature list). Offsets are into the payload.
typedef struct {
    uint32_t list_offset, list_length;   // the BytesList / FloatList / Int64List body
    uint32_t count;                      // values
    uint32_t packed_offset;              // floats in one packed run: where; else UINT32_MAX
    uint8_t kind;                        // PW_NONE: a Feature without a kind
} pw_feature;

// A named feature, or a named feature list whose steps are steps[first .. first + step_count).
typedef struct {
    uint32_t key_offset, key_length;
    pw_feature feature;
    uint32_t first, step_count;
    uint8_t key_ascii;                   // 1: the key is ASCII (so UTF-8); 0: the caller checks it
} pw_entry;

enum {
    PW_OK = 0,
    PW_BAD_TAG,            // "invalid field tag"
    PW_WRONG_WIRE,         // "<field> has wire type <wire>"
    PW_PAST_END,           // "<field> runs past the end of its message"
    PW_UNSUPPORTED_WIRE,   // "unsupported wire type <wire>"
    PW_UNKNOWN_PAST_END,   // "unknown field runs past the end of its message"
    PW_PACKED_FLOATS,      // "packed floats of <extra> bytes, not a multiple of 4"
    PW_TRUNCATED_FIXED32,  // "truncated fixed32"
    PW_TRUNCATED_VARINT,   // "truncated varint"
    PW_TRUNCATED_PACKED,   // "truncated varint in packed Int64List"
    PW_KINDLESS_MERGE,     // "FeatureEntry.value given twice, neither with a kind (protobuf-c refuses the merge)"
    PW_NO_MEMORY,
};

typedef struct {
    pw_entry *features; size_t n_features, cap_features;
    pw_entry *lists; size_t n_lists, cap_lists;
    pw_feature *steps; size_t n_steps, cap_steps;
    int has_feature_lists;
    // The first error: its code, the byte where the offending field starts, the field's name, its wire type
    // and a number for the message (the length of bad packed floats).
    int error;
    size_t error_offset;
    const char *error_field;
    int error_wire;
    size_t error_extra;
} pw_result;

// Parses `size` bytes at `data` as a tf.SequenceExample (`sequence` 1) or a tf.Example (0: field 2 is unknown).
// Entries are in wire order with repeated keys kept once (the last). Returns 0 or an error code (also in
// out->error). `out` must be zeroed before its first use; its arrays are reused and freed by pw_free.
int pw_parse(const uint8_t *data, size_t size, int sequence, pw_result *out);
void pw_free(pw_result *out);

// Decodes the values of a validated Int64List / FloatList body into `out` (room for the feature's count).
void pw_int64_values(const uint8_t *list, size_t length, int64_t *out);
void pw_float_values(const uint8_t *list, size_t length, float *out);
#endif
