/* The loops of _jit.py in C, compiled when the package is built (hatch_build.py) and
 * loaded with ctypes by _native.py: no compiler to import or start on the first mining.
 *
 * Each function is the Numba kernel of the same name, step for step, so the results are
 * bit for bit the same: the same integer arithmetic (64-bit, two's complement), the same
 * float operations in the same order (built with -ffp-contract=off, so no multiply-add
 * is fused; -fwrapv, so integers wrap as Numba's do), and stable sorts where the Numba kernel sorts stably. Arrays are passed as
 * pointers with their lengths; the caller (_native.py) allocates every array. Nothing
 * here calls back into Python or holds the interpreter's lock.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t i64;
typedef int32_t i32;
typedef uint64_t u64;
typedef uint8_t u8;

/* Set by the build to the SHA-256 (first 16 hex digits) of this file: the loader uses
 * the library only when it was built from the source beside it. */
#ifndef JOINEDUP_SOURCE_HASH
#define JOINEDUP_SOURCE_HASH "unknown"
#endif

const char *joinedup_source_hash(void) { return JOINEDUP_SOURCE_HASH; }

static inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }
static inline i64 max64(i64 a, i64 b) { return a > b ? a : b; }

/* ---- string_runs: where each run of equal strings starts ---------------------------- */

#define STRING_RUNS(NAME, OFF)                                                              \
    i64 NAME(const OFF *offsets, i64 n, const u8 *data, i64 *starts, i32 *up) {          \
        i64 m = 0;                                                                         \
        *up = 1;                                                                           \
        if (n > 0) {                                                                       \
            starts[0] = 0;                                                                 \
            m = 1;                                                                         \
        }                                                                                  \
        for (i64 i = 1; i < n; i++) {                                                      \
            i64 a0 = offsets[i - 1], a1 = offsets[i], b1 = offsets[i + 1];                 \
            i64 la = a1 - a0, lb = b1 - a1;                                                \
            int c = 0;                                                                     \
            i64 common = min64(la, lb);                                                    \
            for (i64 j = 0; j < common; j++) {                                             \
                u8 x = data[a0 + j], y = data[a1 + j];                                     \
                if (x != y) {                                                              \
                    c = x > y ? 1 : -1;                                                    \
                    break;                                                                 \
                }                                                                          \
            }                                                                              \
            if (c == 0 && la != lb) c = la > lb ? 1 : -1;                                  \
            if (c != 0) {                                                                  \
                starts[m++] = i;                                                           \
                if (c > 0) {                                                               \
                    *up = 0;                                                               \
                    return m;                                                              \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        return m;                                                                          \
    }

STRING_RUNS(string_runs_32, i32)
STRING_RUNS(string_runs_64, i64)

/* ---- times_ordered ------------------------------------------------------------------- */

i32 times_ordered(const i64 *us, i64 n, const i64 *first, i64 cases) {
    for (i64 c = 0; c < cases; c++) {
        i64 end = c + 1 < cases ? first[c + 1] : n;
        for (i64 i = first[c] + 1; i < end; i++)
            if (us[i] < us[i - 1]) return 0;
    }
    return 1;
}

/* ---- order_by_case ------------------------------------------------------------------- */

/* Whether event i comes after event j: later, or as late and later in tie-break. */
static inline int after(const i64 *us, const i64 *tie, int has_tie, i64 i, i64 j) {
    if (us[i] != us[j]) return us[i] > us[j];
    return has_tie && tie[i] > tie[j];
}

/* A stable bottom-up merge sort of idx[0..m) (spare has room for m more): an entry from
 * the right half goes first only when before(ctx, right, left). */
typedef int (*before_fn)(const void *ctx, i64 x, i64 y);

static void merge_sort(i64 *idx, i64 *spare, i64 m, before_fn before, const void *ctx) {
    i64 *src = idx, *dst = spare;
    for (i64 width = 1; width < m; width *= 2) {
        for (i64 lo = 0; lo < m; lo += 2 * width) {
            i64 mid = min64(lo + width, m), hi = min64(lo + 2 * width, m);
            i64 i = lo, j = mid, t = lo;
            while (i < mid && j < hi) {
                if (before(ctx, src[j], src[i]))
                    dst[t++] = src[j++];
                else
                    dst[t++] = src[i++];
            }
            while (i < mid) dst[t++] = src[i++];
            while (j < hi) dst[t++] = src[j++];
        }
        i64 *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != idx) memcpy(idx, src, (size_t)m * sizeof(i64));
}

typedef struct {
    const i64 *us, *tie;
    int has_tie;
} events_t;

static int event_before(const void *ctx, i64 x, i64 y) {
    const events_t *e = ctx;
    return after(e->us, e->tie, e->has_tie, y, x);
}

/* Stable sort of events a..b-1 (times, codes and tie-breaks together); returns 0, or -1
 * when memory runs out. */
static int sort_run(i64 *us, i32 *codes, i64 *tie, int has_tie, i64 a, i64 b) {
    i64 inversions = 0;
    for (i64 i = a + 1; i < b; i++)
        if (after(us, tie, has_tie, i - 1, i)) inversions++;
    if (inversions == 0) return 0;
    if (b - a <= 32 || inversions <= 8) {
        for (i64 i = a + 1; i < b; i++) {
            i64 t = us[i];
            i32 c = codes[i];
            i64 r = has_tie ? tie[i] : 0;
            i64 j = i - 1;
            while (j >= a && (us[j] > t || (us[j] == t && has_tie && tie[j] > r))) {
                us[j + 1] = us[j];
                codes[j + 1] = codes[j];
                if (has_tie) tie[j + 1] = tie[j];
                j--;
            }
            us[j + 1] = t;
            codes[j + 1] = c;
            if (has_tie) tie[j + 1] = r;
        }
        return 0;
    }
    i64 m = b - a;
    i64 *idx = malloc((size_t)m * 4 * sizeof(i64));
    if (!idx) return -1;
    i64 *spare = idx + m, *vals = idx + 2 * m, *ties = idx + 3 * m;
    for (i64 i = 0; i < m; i++) idx[i] = a + i;
    events_t events = {us, tie, has_tie};
    merge_sort(idx, spare, m, event_before, &events);
    i32 *cvals = (i32 *)spare;
    for (i64 i = 0; i < m; i++) {
        vals[i] = us[idx[i]];
        if (has_tie) ties[i] = tie[idx[i]];
    }
    for (i64 i = 0; i < m; i++) cvals[i] = codes[idx[i]];
    memcpy(us + a, vals, (size_t)m * sizeof(i64));
    memcpy(codes + a, cvals, (size_t)m * sizeof(i32));
    if (has_tie) memcpy(tie + a, ties, (size_t)m * sizeof(i64));
    free(idx);
    return 0;
}

/* first has cases + 1 zeros; on return first[c] is where case c starts. Returns 0, or -1
 * when memory runs out. */
i32 order_by_case(const i32 *cas, i64 n, i64 cases, const i64 *us, const i32 *codes,
                  const i64 *tie, i32 has_tie, i64 *out_us, i32 *out_codes, i64 *out_tie,
                  i64 *first) {
    for (i64 i = 0; i < n; i++) first[cas[i] + 1]++;
    for (i64 c = 0; c < cases; c++) first[c + 1] += first[c];
    i64 *at = malloc((size_t)max64(cases, 1) * sizeof(i64));
    if (!at) return -1;
    memcpy(at, first, (size_t)cases * sizeof(i64));
    for (i64 i = 0; i < n; i++) {
        i64 c = cas[i];
        i64 p = at[c];
        out_us[p] = us[i];
        out_codes[p] = codes[i];
        if (has_tie) out_tie[p] = tie[i];
        at[c] = p + 1;
    }
    free(at);
    for (i64 c = 0; c < cases; c++)
        if (first[c + 1] - first[c] > 1)
            if (sort_run(out_us, out_codes, out_tie, has_tie, first[c], first[c + 1]) < 0)
                return -1;
    return 0;
}

/* ---- quantiles by radix selection ---------------------------------------------------- */

static i64 kth_value(const i64 *run, i64 m, i64 kth, i64 low, i64 high, i64 *spare) {
    const i64 *src = run;
    i64 count[2048 + 1];
    for (;;) {
        if (low == high) return low;
        if (m <= 32) {
            i64 part[32];
            memcpy(part, src, (size_t)m * sizeof(i64));
            for (i64 i = 1; i < m; i++) {
                i64 v = part[i], j = i - 1;
                while (j >= 0 && part[j] > v) {
                    part[j + 1] = part[j];
                    j--;
                }
                part[j + 1] = v;
            }
            return part[kth];
        }
        i64 span = high - low;
        int digit = 3;
        while (digit < 11 && ((i64)1 << (digit + 2)) < m) digit++;
        int shift = 0;
        while ((span >> shift) >= ((i64)1 << digit)) shift++;
        i64 buckets = (span >> shift) + 1;
        memset(count, 0, (size_t)buckets * sizeof(i64));
        for (i64 i = 0; i < m; i++) count[(src[i] - low) >> shift]++;
        i64 bucket = 0;
        while (kth >= count[bucket]) {
            kth -= count[bucket];
            bucket++;
        }
        i64 c = 0;
        for (i64 i = 0; i < m; i++) {
            i64 v = src[i];
            spare[c] = v;
            c += ((v - low) >> shift) == bucket;
        }
        src = spare;
        m = c;
        i64 new_low = low + (bucket << shift);
        high = min64(high, low + ((bucket + 1) << shift) - 1);
        low = new_low;
    }
}

double quantile(const i64 *run, i64 count, double q, i64 low, i64 high, i64 *spare) {
    double h = (double)(count - 1) * q;
    i64 lo = (i64)h; /* floor: h is never negative */
    double frac = h - (double)lo;
    i64 below = kth_value(run, count, lo, low, high, spare);
    i64 above = below;
    if (lo + 1 < count) {
        i64 at_most = 0, nxt = high;
        for (i64 i = 0; i < count; i++) {
            i64 v = run[i];
            at_most += v <= below;
            nxt = min64(nxt, v > below ? v : high);
        }
        above = at_most > lo + 1 ? below : nxt;
    }
    return (double)below + ((double)above - (double)below) * frac;
}

/* ---- directly_follows ---------------------------------------------------------------- */

/* The first part: counts (count has pairs + 1 zeros, made running totals), exact sums in
 * two halves, start and end counts, and every gap written to buf pair by pair with each
 * pair's least and most. pair_id is NULL for the dense numbering source * k + target.
 * Returns 0, or -1 when memory runs out. */
i32 follows_count(const i32 *codes, const i64 *us, i64 n, const i64 *first, i64 cases, i64 k,
                  const i64 *pair_id, i64 pairs, i64 *count, i64 *high, i64 *low,
                  i64 *starts, i64 *ends, i64 *buf, i64 *least, i64 *most) {
    for (i64 c = 0; c < cases; c++) {
        i64 a = first[c], b = c + 1 < cases ? first[c + 1] : n;
        starts[codes[a]]++;
        ends[codes[b - 1]]++;
        for (i64 i = a; i < b - 1; i++) {
            i64 p = pair_id ? pair_id[i] : (i64)codes[i] * k + codes[i + 1];
            i64 g = us[i + 1] - us[i];
            count[p + 1]++;
            high[p] += g >> 32;
            low[p] += g & 0xFFFFFFFF;
        }
    }
    for (i64 p = 0; p < pairs; p++) count[p + 1] += count[p];
    i64 *at = malloc((size_t)max64(pairs, 1) * sizeof(i64));
    if (!at) return -1;
    memcpy(at, count, (size_t)pairs * sizeof(i64));
    for (i64 p = 0; p < pairs; p++) {
        least[p] = INT64_MAX;
        most[p] = 0;
    }
    for (i64 c = 0; c < cases; c++) {
        i64 a = first[c], b = c + 1 < cases ? first[c + 1] : n;
        for (i64 i = a; i < b - 1; i++) {
            i64 p = pair_id ? pair_id[i] : (i64)codes[i] * k + codes[i + 1];
            i64 g = us[i + 1] - us[i];
            buf[at[p]++] = g;
            least[p] = min64(least[p], g);
            most[p] = max64(most[p], g);
        }
    }
    free(at);
    return 0;
}

/* The second part: each seen pair's median and 95th percentile. */
void follows_quantiles(const i64 *count, const i64 *seen, i64 m, const i64 *buf,
                       const i64 *least, const i64 *most, i64 *spare, double *median,
                       double *p95) {
    for (i64 j = 0; j < m; j++) {
        i64 p = seen[j];
        const i64 *run = buf + count[p];
        i64 len = count[p + 1] - count[p];
        median[j] = quantile(run, len, 0.5, least[p], most[p], spare);
        p95[j] = quantile(run, len, 0.95, least[p], most[p], spare);
    }
}

/* ---- variants ------------------------------------------------------------------------ */

static inline u64 mix(u64 x) {
    u64 z = x + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* table: size slots of (hash, variant), -1 when free; size a power of two. */
i64 variant_groups(const i32 *codes, i64 n, const i64 *first, i64 cases, u64 mask,
                   i64 *table, i64 size, i64 *rep, i64 *counts) {
    i64 groups = 0;
    for (i64 c = 0; c < cases; c++) {
        i64 a = first[c], b = c + 1 < cases ? first[c + 1] : n;
        u64 h = (u64)(b - a);
        for (i64 i = a; i < b; i++) h = (h ^ (u64)(i64)codes[i]) * 0x100000001B3ULL;
        h = mix(h) & mask;
        i64 slot = (i64)(h & (u64)(size - 1));
        for (;;) {
            i64 g = table[2 * slot + 1];
            if (g < 0) {
                table[2 * slot] = (i64)h;
                table[2 * slot + 1] = groups;
                rep[groups] = c;
                counts[groups] = 1;
                groups++;
                break;
            }
            if (table[2 * slot] == (i64)h) {
                i64 r = rep[g];
                i64 ra = first[r], rb = r + 1 < cases ? first[r + 1] : n;
                int same = rb - ra == b - a;
                if (same)
                    for (i64 i = 0; i < b - a; i++)
                        if (codes[ra + i] != codes[a + i]) {
                            same = 0;
                            break;
                        }
                if (same) {
                    counts[g]++;
                    break;
                }
            }
            slot = (slot + 1) & (size - 1);
        }
    }
    return groups;
}

/* offsets (m + 1 entries, the first 0) of the chosen cases' codes laid end to end. */
void gather_offsets(i64 n, const i64 *first, i64 cases, const i64 *chosen, i64 m,
                    i64 *offsets) {
    offsets[0] = 0;
    for (i64 j = 0; j < m; j++) {
        i64 c = chosen[j];
        i64 b = c + 1 < cases ? first[c + 1] : n;
        offsets[j + 1] = offsets[j] + b - first[c];
    }
}

void gather_codes(const i32 *codes, const i64 *first, const i64 *chosen, i64 m,
                  const i64 *offsets, i32 *out) {
    for (i64 j = 0; j < m; j++)
        memcpy(out + offsets[j], codes + first[chosen[j]],
               (size_t)(offsets[j + 1] - offsets[j]) * sizeof(i32));
}

/* k is the largest rank plus 2 (1 when there are no ranks). */
void sequence_keys(const i32 *steps, const i64 *starts, const i64 *ends, i64 m,
                   const i64 *rank, i64 k, i64 *key) {
    int bits = 1;
    while (((i64)1 << bits) < k) bits++;
    int width = 63 / bits;
    for (i64 j = 0; j < m; j++) {
        i64 a = starts[j], b = ends[j], v = 0;
        for (int i = 0; i < width; i++) {
            v <<= bits;
            if (a + i < b) v |= rank[steps[a + i]] + 1;
        }
        key[j] = v;
    }
}

typedef struct {
    const i32 *steps;
    const i64 *starts, *ends, *rank;
} lists_t;

/* Whether list x of codes comes before list y, comparing the codes' ranks in turn (a
 * list before any longer list it begins). */
static int sequence_before(const void *ctx, i64 x, i64 y) {
    const lists_t *l = ctx;
    i64 a = l->starts[x], b = l->starts[y];
    i64 la = l->ends[x] - a, lb = l->ends[y] - b;
    i64 common = min64(la, lb);
    for (i64 i = 0; i < common; i++) {
        i64 ra = l->rank[l->steps[a + i]], rb = l->rank[l->steps[b + i]];
        if (ra != rb) return ra < rb;
    }
    return la < lb;
}

i32 settle_ties(i64 *order, i64 m, const i64 *cases, const i64 *key, const i32 *steps,
                const i64 *starts, const i64 *ends, const i64 *rank) {
    i64 start = 0;
    for (i64 i = 1; i < m + 1; i++) {
        if (i < m && cases[order[i]] == cases[order[start]] && key[order[i]] == key[order[start]])
            continue;
        if (i - start > 1) {
            i64 *spare = malloc((size_t)(i - start) * sizeof(i64));
            if (!spare) return -1;
            lists_t lists = {steps, starts, ends, rank};
            merge_sort(order + start, spare, i - start, sequence_before, &lists);
            free(spare);
        }
        start = i;
    }
    return 0;
}

/* ---- text_codes ---------------------------------------------------------------------- */

/* Eight bytes from a as one little-endian word (an unaligned load on the little-endian
 * machines the caller allows), the bytes past length zero. */
static inline u64 word(const u8 *data, i64 data_len, i64 a, i64 length) {
    u64 w = 0;
    if (a + 8 <= data_len) {
        memcpy(&w, data + a, 8);
        if (length < 8) w &= ((u64)1 << (8 * length)) - 1;
        return w;
    }
    i64 top = min64(length, 8);
    for (i64 j = 0; j < top; j++) w |= (u64)data[a + j] << (8 * j);
    return w;
}

#define TEXT_CODES(NAME, OFF)                                                               \
    i64 NAME(const OFF *offsets, i64 n, const u8 *data, i64 data_len, i64 *table, i64 size,  \
             u8 *store, i64 store_len, i64 *store_at, i64 found, i32 *codes) {               \
        for (i64 i = 0; i < n; i++) {                                                      \
            i64 a = offsets[i], b = offsets[i + 1];                                        \
            i64 length = b - a;                                                            \
            u64 head = word(data, data_len, a, length);                                    \
            u64 tail = length > 8 ? word(data, data_len, b - 8, 8) : 0;                    \
            u64 h = ((u64)length * 0x9E3779B97F4A7C15ULL) ^ head;                          \
            h = mix(h ^ (tail * 0xBF58476D1CE4E5B9ULL));                                   \
            i64 slot = (i64)(h & (u64)(size - 1));                                         \
            for (;;) {                                                                     \
                i64 *s = table + 4 * slot;                                                 \
                i64 code = s[3];                                                           \
                if (code < 0) {                                                            \
                    i64 at = store_at[found];                                              \
                    if (2 * (found + 1) > size || at + length + 8 > store_len) return -1;  \
                    memcpy(store + at, data + a, (size_t)length);                          \
                    store_at[found + 1] = at + length;                                     \
                    s[0] = length;                                                         \
                    s[1] = (i64)head;                                                      \
                    s[2] = (i64)tail;                                                      \
                    s[3] = found;                                                          \
                    codes[i] = (i32)found;                                                 \
                    found++;                                                               \
                    break;                                                                 \
                }                                                                          \
                if (s[0] == length && s[1] == (i64)head && s[2] == (i64)tail &&            \
                    (length <= 16 ||                                                       \
                     memcmp(store + store_at[code], data + a, (size_t)length) == 0)) {     \
                    codes[i] = (i32)code;                                                  \
                    break;                                                                 \
                }                                                                          \
                slot = (slot + 1) & (size - 1);                                            \
            }                                                                              \
        }                                                                                  \
        return found;                                                                      \
    }

TEXT_CODES(text_codes_32, i32)
TEXT_CODES(text_codes_64, i64)
