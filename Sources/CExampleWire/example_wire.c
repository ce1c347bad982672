// See include/example_wire.h. The rules are protobuf-c 1.4's (protobuf-c.c: parse_tag_and_wiretype,
// scan_length_prefixed_data, protobuf_c_message_unpack): tags of at most 5 bytes whose first byte has field
// bits; varints of at most 10 bytes; length prefixes of at most 5 bytes and INT_MAX; wire types 3, 4, 6, 7
// refused even for unknown fields; a known field with the wrong wire type refused; a message field given twice
// merged (repeated fields joined; a Feature value: the later one if it has a kind); the last oneof wins.
#include "example_wire.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p, *end, *base;
    pw_result *r;
} cursor;

#define FAIL(code, at, name, wire, extra) do { fail(c->r, code, (at) - c->base, name, wire, extra); return 0; } while (0)

static void fail(pw_result *r, int code, size_t offset, const char *field, int wire, size_t extra) {
    if (r->error) return;
    r->error = code;
    r->error_offset = offset;
    r->error_field = field;
    r->error_wire = wire;
    r->error_extra = extra;
}

// Tag: returns 1 and sets field/wire, or 0.
static inline int read_tag(const uint8_t **pp, const uint8_t *end, uint32_t *field, int *wire) {
    const uint8_t *p = *pp;
    uint8_t b0 = p[0];
    if ((b0 & 0xF8) == 0) return 0;
    *wire = b0 & 7;
    if (b0 < 0x80) { *field = b0 >> 3; *pp = p + 1; return 1; }
    uint32_t tag = (b0 & 0x7F) >> 3;
    unsigned shift = 4;
    size_t max = end - p < 5 ? (size_t)(end - p) : 5;
    for (size_t i = 1; i < max; i++) {
        uint8_t b = p[i];
        if (b & 0x80) { tag |= (uint32_t)(b & 0x7F) << shift; shift += 7; }
        else { tag |= (uint32_t)b << shift; *field = tag; *pp = p + i + 1; return 1; }
    }
    return 0;
}

static inline int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *value) {
    const uint8_t *p = *pp;
    if (p < end && p[0] < 0x80) { *value = p[0]; *pp = p + 1; return 1; }
    uint64_t v = 0;
    size_t max = end - p < 10 ? (size_t)(end - p) : 10;
    for (size_t i = 0; i < max; i++) {
        v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
        if (p[i] < 0x80) { *value = v; *pp = p + i + 1; return 1; }
    }
    return 0;
}

// Length-delimited: sets body/length and moves past it, or 0.
static inline int read_length(const uint8_t **pp, const uint8_t *end, const uint8_t **body, size_t *length) {
    const uint8_t *p = *pp;
    size_t remaining = end - p, header = 0;
    uint64_t v;
    if (remaining > 0 && p[0] < 0x80) { v = p[0]; header = 1; }
    else {
        v = 0;
        size_t max = remaining < 5 ? remaining : 5;
        for (size_t i = 0; i < max; i++) {
            v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
            if (p[i] < 0x80) { header = i + 1; break; }
        }
        if (header == 0 || v > 0x7FFFFFFF) return 0;
    }
    if (v > remaining - header) return 0;
    *body = p + header;
    *length = (size_t)v;
    *pp = p + header + v;
    return 1;
}

static inline int skip(cursor *c, const uint8_t *at, int wire) {
    const uint8_t *body; size_t length; uint64_t v;
    switch (wire) {
    case 0: if (read_varint(&c->p, c->end, &v)) return 1; break;
    case 1: if (c->end - c->p >= 8) { c->p += 8; return 1; } break;
    case 2: if (read_length(&c->p, c->end, &body, &length)) return 1; break;
    case 5: if (c->end - c->p >= 4) { c->p += 4; return 1; } break;
    default: FAIL(PW_UNSUPPORTED_WIRE, at, NULL, wire, 0);
    }
    FAIL(PW_UNKNOWN_PAST_END, at, NULL, wire, 0);
}

// A length-delimited field that must be one.
static inline int message(cursor *c, const uint8_t *at, int wire, const char *name, cursor *inner) {
    const uint8_t *body; size_t length;
    if (wire != 2) FAIL(PW_WRONG_WIRE, at, name, wire, 0);
    if (!read_length(&c->p, c->end, &body, &length)) FAIL(PW_PAST_END, at, name, wire, 0);
    inner->p = body; inner->end = body + length; inner->base = c->base; inner->r = c->r;
    return 1;
}

#define NEXT_TAG(c, at, field, wire) \
    const uint8_t *at = (c)->p; uint32_t field; int wire; \
    if (!read_tag(&(c)->p, (c)->end, &field, &wire)) { fail((c)->r, PW_BAD_TAG, at - (c)->base, NULL, 0, 0); return 0; }

static int bytes_list(cursor *c, pw_feature *f) {
    uint32_t count = 0;
    while (c->p < c->end) {
        NEXT_TAG(c, at, field, wire)
        if (field == 1) { cursor v; if (!message(c, at, wire, "BytesList.value", &v)) return 0; count++; }
        else if (!skip(c, at, wire)) return 0;
    }
    f->kind = PW_BYTES; f->count = count; f->packed_offset = UINT32_MAX;
    return 1;
}

static int float_list(cursor *c, pw_feature *f) {
    // The usual layout, one packed run with a one-byte length: [0x0A, n, n bytes].
    size_t size = c->end - c->p;
    if (size >= 2 && c->p[0] == 0x0A && c->p[1] < 0x80 && (size_t)c->p[1] + 2 == size && (c->p[1] & 3) == 0) {
        f->kind = PW_FLOAT; f->count = c->p[1] / 4; f->packed_offset = (uint32_t)(c->p + 2 - c->base);
        c->p = c->end;
        return 1;
    }
    uint32_t count = 0, runs = 0, packed = UINT32_MAX;
    while (c->p < c->end) {
        NEXT_TAG(c, at, field, wire)
        if (field == 1 && wire == 2) {
            cursor v;
            if (!message(c, at, wire, "FloatList.value", &v)) return 0;
            size_t n = v.end - v.p;
            if (n % 4) FAIL(PW_PACKED_FLOATS, at, NULL, wire, n);
            count += (uint32_t)(n / 4);
            packed = (uint32_t)(v.p - c->base);
            runs += 1;
        } else if (field == 1 && wire == 5) {
            if (c->end - c->p < 4) FAIL(PW_TRUNCATED_FIXED32, at, NULL, wire, 0);
            c->p += 4;
            count += 1;
            runs += 2;
        } else if (field == 1) {
            FAIL(PW_WRONG_WIRE, at, "FloatList.value", wire, 0);
        } else if (!skip(c, at, wire)) return 0;
    }
    f->kind = PW_FLOAT; f->count = count; f->packed_offset = runs == 1 ? packed : UINT32_MAX;
    return 1;
}

static int int64_list(cursor *c, pw_feature *f) {
    // The usual layout, one packed run with a one-byte length: count the bytes that end a varint.
    size_t size = c->end - c->p;
    if (size >= 2 && c->p[0] == 0x0A && c->p[1] < 0x80 && (size_t)c->p[1] + 2 == size) {
        const uint8_t *q = c->p + 2, *stop = c->end;
        uint32_t ends = 0, run = 0;
        int ok = 1;
        for (; q < stop; q++) {
            if (*q < 0x80) { ends++; run = 0; }
            else if (++run == 10) { ok = 0; break; }   // an eleventh byte would be needed
        }
        if (ok && (stop == c->p + 2 || stop[-1] < 0x80)) {
            f->kind = PW_INT64; f->count = ends; f->packed_offset = UINT32_MAX;
            c->p = c->end;
            return 1;
        }
    }
    uint32_t count = 0;
    uint64_t v;
    while (c->p < c->end) {
        NEXT_TAG(c, at, field, wire)
        if (field == 1 && wire == 2) {
            cursor run;
            if (!message(c, at, wire, "Int64List.value", &run)) return 0;
            while (run.p < run.end) {
                const uint8_t *start = run.p;
                if (!read_varint(&run.p, run.end, &v)) FAIL(PW_TRUNCATED_PACKED, start, NULL, wire, 0);
                count++;
            }
        } else if (field == 1 && wire == 0) {
            if (!read_varint(&c->p, c->end, &v)) FAIL(PW_TRUNCATED_VARINT, at, NULL, wire, 0);
            count++;
        } else if (field == 1) {
            FAIL(PW_WRONG_WIRE, at, "Int64List.value", wire, 0);
        } else if (!skip(c, at, wire)) return 0;
    }
    f->kind = PW_INT64; f->count = count; f->packed_offset = UINT32_MAX;
    return 1;
}

// Feature { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3 } }.
static int feature(cursor *c, pw_feature *f) {
    f->list_offset = f->list_length = f->count = 0;
    f->packed_offset = UINT32_MAX;
    f->kind = PW_NONE;
    static const char *names[] = { NULL, "Feature.bytes_list", "Feature.float_list", "Feature.int64_list" };
    while (c->p < c->end) {
        NEXT_TAG(c, at, field, wire)
        if (field < 1 || field > 3) { if (!skip(c, at, wire)) return 0; continue; }
        cursor list;
        if (!message(c, at, wire, names[field], &list)) return 0;
        uint32_t offset = (uint32_t)(list.p - c->base), length = (uint32_t)(list.end - list.p);
        int ok = field == 1 ? bytes_list(&list, f) : field == 2 ? float_list(&list, f) : int64_list(&list, f);
        if (!ok) return 0;
        f->list_offset = offset;
        f->list_length = length;
    }
    return 1;
}

static int grow(void **array, size_t *capacity, size_t element) {
    size_t next = *capacity ? *capacity * 2 : 16;
    void *bigger = realloc(*array, next * element);
    if (!bigger) return 0;
    *array = bigger;
    *capacity = next;
    return 1;
}

// ASCII without NUL: such keys need no further check (a NUL cannot be written back: protobuf-c keys are C strings).
static inline int ascii(const uint8_t *p, size_t n) {
    uint8_t high = 0, nul = 0;
    for (size_t i = 0; i < n; i++) { high |= p[i]; nul |= p[i] == 0; }
    return high < 0x80 && !nul;
}

// Features { repeated FeatureEntry feature = 1 }, FeatureEntry { string key = 1; Feature value = 2 }.
// Values are scanned straight into the entry (a copy of a freshly written struct stalls on store forwarding).
static int features(cursor *c) {
    pw_result *r = c->r;
    while (c->p < c->end) {
        NEXT_TAG(c, at, field, wire)
        if (field != 1) { if (!skip(c, at, wire)) return 0; continue; }
        cursor entry;
        if (!message(c, at, wire, "Features.feature", &entry)) return 0;
        if (r->n_features == r->cap_features && !grow((void **)&r->features, &r->cap_features, sizeof(pw_entry))) {
            fail(r, PW_NO_MEMORY, 0, NULL, 0, 0);
            return 0;
        }
        pw_entry *e = &r->features[r->n_features];
        const uint8_t *key = entry.p; size_t key_length = 0;
        int has_value = 0;
        // The usual layout, with one-byte lengths: key, then a value holding exactly one list.
        const uint8_t *q = entry.p;
        size_t size = entry.end - q;
        if (size >= 6 && q[0] == 0x0A && q[1] < 0x80 && (size_t)q[1] + 6 <= size) {
            const uint8_t *v = q + 2 + q[1];
            size_t value_size = size - 2 - q[1];
            if (v[0] == 0x12 && v[1] < 0x80 && (size_t)v[1] + 2 == value_size && v[1] >= 2 &&
                (v[2] == 0x0A || v[2] == 0x12 || v[2] == 0x1A) && v[3] < 0x80 && (size_t)v[3] + 4 == value_size) {
                cursor list = { v + 4, entry.end, c->base, r };
                pw_feature *f = &e->feature;
                int ok = v[2] == 0x0A ? bytes_list(&list, f) : v[2] == 0x12 ? float_list(&list, f) : int64_list(&list, f);
                if (!ok) return 0;
                f->list_offset = (uint32_t)(v + 4 - c->base);
                f->list_length = v[3];
                key = q + 2; key_length = q[1];
                has_value = 1;
                entry.p = entry.end;
            }
        }
        while (entry.p < entry.end) {
            NEXT_TAG(&entry, eat, efield, ewire)
            cursor inner;
            if (efield == 1) {
                if (!message(&entry, eat, ewire, "FeatureEntry.key", &inner)) return 0;
                key = inner.p; key_length = inner.end - inner.p;
            } else if (efield == 2) {
                if (!message(&entry, eat, ewire, "FeatureEntry.value", &inner)) return 0;
                if (!has_value) {
                    if (!feature(&inner, &e->feature)) return 0;
                    has_value = 1;
                    continue;
                }
                // protobuf-c's merge of a repeated value: the later one if it has a kind, else the earlier one; and
                // when neither has a kind, merge_messages fails (it looks up oneof case 0), so the payload is refused.
                pw_feature f;
                if (!feature(&inner, &f)) return 0;
                if (f.kind == PW_NONE && e->feature.kind == PW_NONE) { fail(r, PW_KINDLESS_MERGE, eat - c->base, NULL, ewire, 0); return 0; }
                if (f.kind != PW_NONE) e->feature = f;
            } else if (!skip(&entry, eat, ewire)) return 0;
        }
        if (!has_value) {
            e->feature.list_offset = e->feature.list_length = e->feature.count = 0;
            e->feature.packed_offset = UINT32_MAX;
            e->feature.kind = PW_NONE;
        }
        e->key_offset = (uint32_t)(key - c->base); e->key_length = (uint32_t)key_length;
        e->first = 0; e->step_count = 0;
        e->key_ascii = (uint8_t)ascii(key, key_length);
        r->n_features++;
    }
    return 1;
}

// FeatureLists { repeated FeatureListEntry feature_list = 1 }, FeatureListEntry { string key = 1;
// FeatureList value = 2 }, FeatureList { repeated Feature feature = 1 }.
static int feature_lists(cursor *c) {
    pw_result *r = c->r;
    r->has_feature_lists = 1;
    while (c->p < c->end) {
        NEXT_TAG(c, at, field, wire)
        if (field != 1) { if (!skip(c, at, wire)) return 0; continue; }
        cursor entry;
        if (!message(c, at, wire, "FeatureLists.feature_list", &entry)) return 0;
        const uint8_t *key = entry.p; size_t key_length = 0;
        size_t first = r->n_steps;
        while (entry.p < entry.end) {
            NEXT_TAG(&entry, eat, efield, ewire)
            cursor inner;
            if (efield == 1) {
                if (!message(&entry, eat, ewire, "FeatureListEntry.key", &inner)) return 0;
                key = inner.p; key_length = inner.end - inner.p;
            } else if (efield == 2) {
                // A repeated value is merged by joining its steps.
                if (!message(&entry, eat, ewire, "FeatureListEntry.value", &inner)) return 0;
                while (inner.p < inner.end) {
                    NEXT_TAG(&inner, lat, lfield, lwire)
                    if (lfield != 1) { if (!skip(&inner, lat, lwire)) return 0; continue; }
                    cursor f;
                    if (!message(&inner, lat, lwire, "FeatureList.feature", &f)) return 0;
                    if (r->n_steps == r->cap_steps && !grow((void **)&r->steps, &r->cap_steps, sizeof(pw_feature))) {
                        fail(r, PW_NO_MEMORY, 0, NULL, 0, 0);
                        return 0;
                    }
                    if (!feature(&f, &r->steps[r->n_steps])) return 0;
                    r->n_steps++;
                }
            } else if (!skip(&entry, eat, ewire)) return 0;
        }
        if (r->n_lists == r->cap_lists && !grow((void **)&r->lists, &r->cap_lists, sizeof(pw_entry))) {
            fail(r, PW_NO_MEMORY, 0, NULL, 0, 0);
            return 0;
        }
        pw_entry *e = &r->lists[r->n_lists++];
        memset(e, 0, sizeof *e);
        e->key_offset = (uint32_t)(key - c->base); e->key_length = (uint32_t)key_length;
        e->feature.packed_offset = UINT32_MAX;
        e->first = (uint32_t)first; e->step_count = (uint32_t)(r->n_steps - first);
        e->key_ascii = (uint8_t)ascii(key, key_length);
    }
    return 1;
}

static int key_compare(const uint8_t *base, const pw_entry *a, const pw_entry *b) {
    size_t n = a->key_length < b->key_length ? a->key_length : b->key_length;
    int c = memcmp(base + a->key_offset, base + b->key_offset, n);
    return c ? c : (a->key_length > b->key_length) - (a->key_length < b->key_length);
}

// Merge sort of entry indices by key (qsort has no context argument, and parsers run on several threads).
static void sort_by_key(const uint8_t *base, const pw_entry *entries, uint32_t *order, uint32_t *scratch, size_t n) {
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) scratch[k++] = key_compare(base, &entries[order[j]], &entries[order[i]]) < 0 ? order[j++] : order[i++];
            while (i < mid) scratch[k++] = order[i++];
            while (j < hi) scratch[k++] = order[j++];
        }
        memcpy(order, scratch, n * sizeof *order);
    }
}

// Keeps the last entry of each key, in wire order.
static int dedupe(const uint8_t *base, pw_entry *entries, size_t *count) {
    size_t n = *count;
    if (n < 2) return 1;
    int duplicate = 0;
    if (n <= 16) {
        // Every pair, compared first by a signature (length, first, middle and last byte), so that memcmp runs only on
        // likely twins.
        uint64_t sig[16];
        for (size_t i = 0; i < n; i++) {
            uint32_t length = entries[i].key_length;
            const uint8_t *key = base + entries[i].key_offset;
            sig[i] = length ? (uint64_t)length | (uint64_t)key[0] << 32 | (uint64_t)key[length - 1] << 40 | (uint64_t)key[length / 2] << 48 : 0;
        }
        for (size_t i = 0; i + 1 < n && !duplicate; i++)
            for (size_t j = i + 1; j < n; j++)
                if (sig[i] == sig[j] && entries[i].key_length == entries[j].key_length &&
                    memcmp(base + entries[i].key_offset, base + entries[j].key_offset, entries[i].key_length) == 0) {
                    duplicate = 1;
                    break;
                }
    } else {
        uint32_t *order = malloc(2 * n * sizeof *order);
        if (!order) return 0;
        for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
        sort_by_key(base, entries, order, order + n, n);
        for (size_t k = 1; k < n && !duplicate; k++) duplicate = key_compare(base, &entries[order[k - 1]], &entries[order[k]]) == 0;
        free(order);
    }
    if (!duplicate) return 1;
    // Rare: drop every entry whose key appears again later, keeping wire order.
    uint32_t *order = malloc(2 * n * sizeof *order);
    uint8_t *drop = calloc(n, 1);
    if (!order || !drop) { free(order); free(drop); return 0; }
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    sort_by_key(base, entries, order, order + n, n);   // stable: equal keys stay in wire order
    for (size_t k = 0; k + 1 < n; k++)
        if (key_compare(base, &entries[order[k]], &entries[order[k + 1]]) == 0) drop[order[k]] = 1;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) if (!drop[i]) entries[kept++] = entries[i];
    free(order);
    free(drop);
    *count = kept;
    return 1;
}

int pw_parse(const uint8_t *data, size_t size, int sequence, pw_result *r) {
    r->n_features = r->n_lists = r->n_steps = 0;
    r->has_feature_lists = 0;
    r->error = PW_OK;
    static const uint8_t empty = 0;
    cursor top = { data ? data : &empty, (data ? data : &empty) + size, data ? data : &empty, r };
    cursor *c = &top;
    while (c->p < c->end) {
        const uint8_t *at = c->p; uint32_t field; int wire;
        if (!read_tag(&c->p, c->end, &field, &wire)) { fail(r, PW_BAD_TAG, at - c->base, NULL, 0, 0); return r->error; }
        cursor body;
        if (field == 1) {
            if (!message(c, at, wire, "Example.features", &body) || !features(&body)) return r->error;
        } else if (field == 2 && sequence) {
            if (!message(c, at, wire, "SequenceExample.feature_lists", &body) || !feature_lists(&body)) return r->error;
        } else if (!skip(c, at, wire)) {
            return r->error;
        }
    }
    if (!dedupe(c->base, r->features, &r->n_features) || !dedupe(c->base, r->lists, &r->n_lists)) {
        fail(r, PW_NO_MEMORY, 0, NULL, 0, 0);
    }
    return r->error;
}

void pw_free(pw_result *r) {
    free(r->features);
    free(r->lists);
    free(r->steps);
    memset(r, 0, sizeof *r);
}

void pw_int64_values(const uint8_t *list, size_t length, int64_t *out) {
    const uint8_t *p = list, *end = list + length;
    uint32_t field; int wire; uint64_t v = 0;
    while (p < end && read_tag(&p, end, &field, &wire)) {
        if (field == 1 && wire == 2) {
            const uint8_t *body = p; size_t n = 0;
            read_length(&p, end, &body, &n);
            const uint8_t *q = body, *stop = body + n;
            while (q < stop && read_varint(&q, stop, &v)) *out++ = (int64_t)v;
        } else if (field == 1 && wire == 0) {
            read_varint(&p, end, &v);
            *out++ = (int64_t)v;
        } else {
            const uint8_t *body = p; size_t n = 0;
            switch (wire) {
            case 0: read_varint(&p, end, &v); break;
            case 1: p += 8; break;
            case 2: read_length(&p, end, &body, &n); break;
            default: p += 4; break;
            }
        }
    }
}

void pw_float_values(const uint8_t *list, size_t length, float *out) {
    const uint8_t *p = list, *end = list + length;
    uint32_t field; int wire; uint64_t v = 0;
    while (p < end && read_tag(&p, end, &field, &wire)) {
        const uint8_t *body = p; size_t n = 0;
        if (field == 1 && wire == 2) {
            read_length(&p, end, &body, &n);
            memcpy(out, body, n);   // little-endian, as the wire
            out += n / 4;
        } else if (field == 1 && wire == 5) {
            memcpy(out++, p, 4);
            p += 4;
        } else {
            switch (wire) {
            case 0: read_varint(&p, end, &v); break;
            case 1: p += 8; break;
            case 2: read_length(&p, end, &body, &n); break;
            default: p += 4; break;
            }
        }
    }
}
