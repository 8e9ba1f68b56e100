/* The engine's compiled kernels: colour histogram, k-means++ seeding, Lloyd with Hamerly bounds,
 * exact nearest centres, spreading per-colour values back to pixels, and dithering.
 *
 * Plain C on the CPython API and the buffer protocol (no numpy headers, so nothing but a C
 * compiler is needed to build it). The Python side (kcolors/engine/kernels.py) allocates every
 * array with numpy and checks shapes and types; these functions only check buffer sizes. Each
 * kernel releases the GIL while it computes. Results are deterministic: no threads, no
 * reassociated floating-point sums, and the same arithmetic on every instruction set.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* GCC builds the hottest loops twice (AVX2 and baseline x86-64) and picks one at load time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define KC_CLONES
#endif

#define KC_MAX_DIMS 4

/* ------------------------------------------------------------------------------------------ */
/* Buffers                                                                                      */

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, Py_ssize_t count,
                      int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    if (view->len != itemsize * count) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes, got %zd", name, itemsize * count,
                     view->len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Histogram                                                                                    */

typedef struct {
    uint32_t key;
    int32_t index; /* into the colour list, -1 when the slot is empty */
} slot_t;

typedef struct {
    slot_t *slots; /* key and index side by side: one cache line per probe */
    size_t mask;
    int shift;
} table_t;

static inline size_t table_hash(uint32_t code, int shift) {
    return (size_t)(((uint64_t)code * 0x9E3779B97F4A7C15ULL) >> shift);
}

static int table_init(table_t *t, int bits) {
    size_t capacity = (size_t)1 << bits;
    t->slots = malloc(capacity * sizeof(slot_t));
    if (t->slots == NULL) {
        return -1;
    }
    for (size_t h = 0; h < capacity; h++) {
        t->slots[h].index = -1;
    }
    t->mask = capacity - 1;
    t->shift = 64 - bits;
    return 0;
}

static void table_insert(table_t *t, uint32_t code, int32_t index) {
    size_t h = table_hash(code, t->shift);
    while (t->slots[h].index >= 0) {
        h = (h + 1) & t->mask;
    }
    t->slots[h].key = code;
    t->slots[h].index = index;
}

/* From this many RGB pixels on, colours are looked up in a table of all 2^24 of them (64 MiB)
 * instead of a hash table: one memory access per pixel instead of a probe sequence. Below it,
 * the fixed cost of the table (its pages, 40-60 ms in a new process) outweighs that: measured
 * at 1 MP, the hash table takes 35 ms and the direct table 60 ms; at 12 MP, 0.23 s and 0.18 s.
 * Huge pages (madvise) were tried: 0.13 s when a process reuses them, but 0.22 s the first
 * time, which is what the command line pays. */
#define KC_DIRECT_FROM_PIXELS ((Py_ssize_t)1 << 22)
#define KC_DIRECT_BYTES ((size_t)4 << 24)

static Py_ssize_t count_rgb_direct(const uint8_t *pixels, Py_ssize_t n, uint32_t *inverse,
                                   uint32_t **codes_out, int64_t **counts_out) {
    int32_t *table = malloc(KC_DIRECT_BYTES);
    if (table == NULL) {
        return -1;
    }
    memset(table, 0xff, KC_DIRECT_BYTES);
    size_t capacity = 1 << 16;
    uint32_t *codes = malloc(capacity * sizeof(uint32_t));
    int64_t *counts = malloc(capacity * sizeof(int64_t));
    Py_ssize_t distinct = 0;
    if (codes == NULL || counts == NULL) {
        goto fail;
    }
    /* The table is far larger than the caches: each pixel's slot is fetched a few dozen
     * pixels ahead, so that the memory latencies overlap. */
    const Py_ssize_t ahead = 32;
    for (Py_ssize_t i = 0; i < n; i++) {
#if defined(__GNUC__)
        if (i + ahead < n) {
            const uint8_t *q = pixels + (i + ahead) * 3;
            __builtin_prefetch(table + ((uint32_t)q[0] | ((uint32_t)q[1] << 8) |
                                        ((uint32_t)q[2] << 16)), 1);
        }
#endif
        const uint8_t *p = pixels + i * 3;
        uint32_t code = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
        int32_t index = table[code];
        if (index < 0) {
            if ((size_t)distinct == capacity) {
                capacity *= 2;
                uint32_t *more_codes = realloc(codes, capacity * sizeof(uint32_t));
                if (more_codes == NULL) {
                    goto fail;
                }
                codes = more_codes;
                int64_t *more_counts = realloc(counts, capacity * sizeof(int64_t));
                if (more_counts == NULL) {
                    goto fail;
                }
                counts = more_counts;
            }
            index = table[code] = (int32_t)distinct;
            codes[distinct] = code;
            counts[distinct] = 0;
            distinct++;
        }
        counts[index]++;
        inverse[i] = (uint32_t)index;
    }
    free(table);
    *codes_out = codes;
    *counts_out = counts;
    return distinct;
fail:
    free(table);
    free(codes);
    free(counts);
    return -1;
}

/* Count the distinct colours of n pixels of `channels` bytes (or, with channels == 0, the
 * distinct values of n uint32 codes). Colours are numbered in the order they first appear;
 * inverse[i] is pixel i's colour. Returns the number of colours (-1: out of memory), with
 * *codes_out and *counts_out malloc'ed. */
static Py_ssize_t count_colors(const void *input, Py_ssize_t n, int channels, uint32_t *inverse,
                               uint32_t **codes_out, int64_t **counts_out) {
    const uint8_t *pixels = input;
    const uint32_t *input_codes = input;
    if (channels == 3 && n >= KC_DIRECT_FROM_PIXELS) {
        return count_rgb_direct(pixels, n, inverse, codes_out, counts_out);
    }
    int bits = 12;
    table_t table;
    if (table_init(&table, bits) < 0) {
        return -1;
    }
    size_t capacity = 4096;
    uint32_t *codes = malloc(capacity * sizeof(uint32_t));
    int64_t *counts = malloc(capacity * sizeof(int64_t));
    if (codes == NULL || counts == NULL) {
        goto fail;
    }
    Py_ssize_t distinct = 0;
    uint32_t previous = 0;
    int32_t previous_index = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t code;
        if (channels == 0) {
            code = input_codes[i];
        } else {
            const uint8_t *p = pixels + i * channels;
            code = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
            if (channels == 4) {
                code |= (uint32_t)p[3] << 24;
            }
        }
        if (previous_index >= 0 && code == previous) { /* runs of one colour are common */
            counts[previous_index]++;
            inverse[i] = (uint32_t)previous_index;
            continue;
        }
#if defined(__GNUC__)
        if (channels == 3 && i + 16 < n) { /* fetch the slot of a pixel 16 ahead */
            const uint8_t *q = pixels + (i + 16) * 3;
            uint32_t ahead = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16);
            __builtin_prefetch(table.slots + table_hash(ahead, table.shift), 1);
        }
#endif
        size_t h = table_hash(code, table.shift);
        int32_t index;
        for (;;) {
            index = table.slots[h].index;
            if (index < 0 || table.slots[h].key == code) {
                break;
            }
            h = (h + 1) & table.mask;
        }
        if (index < 0) {
            index = (int32_t)distinct;
            if ((size_t)distinct == capacity) {
                capacity *= 2;
                uint32_t *more_codes = realloc(codes, capacity * sizeof(uint32_t));
                if (more_codes == NULL) {
                    goto fail;
                }
                codes = more_codes;
                int64_t *more_counts = realloc(counts, capacity * sizeof(int64_t));
                if (more_counts == NULL) {
                    goto fail;
                }
                counts = more_counts;
            }
            codes[distinct] = code;
            counts[distinct] = 0;
            table.slots[h].key = code;
            table.slots[h].index = index;
            distinct++;
            if ((size_t)distinct * 2 > table.mask + 1) { /* keep the load under a half */
                free(table.slots);
                bits++;
                if (table_init(&table, bits) < 0) {
                    table.slots = NULL;
                    goto fail;
                }
                for (Py_ssize_t j = 0; j < distinct; j++) {
                    table_insert(&table, codes[j], (int32_t)j);
                }
            }
        }
        counts[index]++;
        inverse[i] = (uint32_t)index;
        previous = code;
        previous_index = index;
    }
    free(table.slots);
    *codes_out = codes;
    *counts_out = counts;
    return distinct;
fail:
    free(table.slots);
    free(codes);
    free(counts);
    return -1;
}

static PyObject *kc_histogram(PyObject *self, PyObject *args) {
    PyObject *pixels_obj, *inverse_obj;
    Py_ssize_t n;
    int channels;
    if (!PyArg_ParseTuple(args, "OniO", &pixels_obj, &n, &channels, &inverse_obj)) {
        return NULL;
    }
    if (channels != 3 && channels != 4) {
        PyErr_SetString(PyExc_ValueError, "histogram: channels must be 3 or 4");
        return NULL;
    }
    if (n >= ((Py_ssize_t)1 << 32)) {
        PyErr_SetString(PyExc_ValueError, "histogram: too many pixels");
        return NULL;
    }
    Py_buffer pixels, inverse;
    if (get_buffer(pixels_obj, &pixels, channels, n, 0, "pixels") < 0) {
        return NULL;
    }
    if (get_buffer(inverse_obj, &inverse, 4, n, 1, "inverse") < 0) {
        PyBuffer_Release(&pixels);
        return NULL;
    }
    uint32_t *codes = NULL;
    int64_t *counts = NULL;
    Py_ssize_t distinct;
    Py_BEGIN_ALLOW_THREADS;
    distinct = count_colors(pixels.buf, n, channels, inverse.buf, &codes, &counts);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&pixels);
    PyBuffer_Release(&inverse);
    if (distinct < 0) {
        return PyErr_NoMemory();
    }
    PyObject *colors = PyBytes_FromStringAndSize(NULL, distinct * channels);
    PyObject *count_bytes = PyBytes_FromStringAndSize((const char *)counts, distinct * 8);
    if (colors != NULL) {
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(colors);
        for (Py_ssize_t j = 0; j < distinct; j++) {
            for (int c = 0; c < channels; c++) {
                out[j * channels + c] = (uint8_t)(codes[j] >> (8 * c));
            }
        }
    }
    free(codes);
    free(counts);
    if (colors == NULL || count_bytes == NULL) {
        Py_XDECREF(colors);
        Py_XDECREF(count_bytes);
        return NULL;
    }
    return Py_BuildValue("(NN)", colors, count_bytes);
}

/* group(codes uint32, n, index uint32 out) -> distinct codes (bytes of uint32), numbered in
 * order of first appearance (binning colours). */
static PyObject *kc_group(PyObject *self, PyObject *args) {
    PyObject *codes_obj, *index_obj;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OnO", &codes_obj, &n, &index_obj)) {
        return NULL;
    }
    if (n >= ((Py_ssize_t)1 << 32)) {
        PyErr_SetString(PyExc_ValueError, "group: too many codes");
        return NULL;
    }
    Py_buffer codes, index;
    if (get_buffer(codes_obj, &codes, 4, n, 0, "codes") < 0) {
        return NULL;
    }
    if (get_buffer(index_obj, &index, 4, n, 1, "index") < 0) {
        PyBuffer_Release(&codes);
        return NULL;
    }
    uint32_t *distinct_codes = NULL;
    int64_t *counts = NULL;
    Py_ssize_t distinct;
    Py_BEGIN_ALLOW_THREADS;
    distinct = count_colors(codes.buf, n, 0, index.buf, &distinct_codes, &counts);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&codes);
    PyBuffer_Release(&index);
    if (distinct < 0) {
        return PyErr_NoMemory();
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)distinct_codes, distinct * 4);
    free(distinct_codes);
    free(counts);
    return result;
}

/* group_sums(index uint32, n, groups, weights f64, columns f64 (n x m), m, totals out (groups),
 * sums out (groups x m)): each group's total weight and weighted column sums. */
static PyObject *kc_group_sums(PyObject *self, PyObject *args) {
    PyObject *index_obj, *weights_obj, *columns_obj, *totals_obj, *sums_obj;
    Py_ssize_t n, groups;
    int m;
    if (!PyArg_ParseTuple(args, "OnnOOiOO", &index_obj, &n, &groups, &weights_obj, &columns_obj,
                          &m, &totals_obj, &sums_obj)) {
        return NULL;
    }
    if (m < 1 || m > 2 * KC_MAX_DIMS) {
        PyErr_SetString(PyExc_ValueError, "group_sums: bad column count");
        return NULL;
    }
    Py_buffer index, weights, columns, totals, sums;
    if (get_buffer(index_obj, &index, 4, n, 0, "index") < 0) {
        return NULL;
    }
    if (get_buffer(weights_obj, &weights, 8, n, 0, "weights") < 0) {
        PyBuffer_Release(&index);
        return NULL;
    }
    if (get_buffer(columns_obj, &columns, 8 * m, n, 0, "columns") < 0) {
        PyBuffer_Release(&index);
        PyBuffer_Release(&weights);
        return NULL;
    }
    if (get_buffer(totals_obj, &totals, 8, groups, 1, "totals") < 0) {
        PyBuffer_Release(&index);
        PyBuffer_Release(&weights);
        PyBuffer_Release(&columns);
        return NULL;
    }
    if (get_buffer(sums_obj, &sums, 8 * m, groups, 1, "sums") < 0) {
        PyBuffer_Release(&index);
        PyBuffer_Release(&weights);
        PyBuffer_Release(&columns);
        PyBuffer_Release(&totals);
        return NULL;
    }
    const uint32_t *group = index.buf;
    const double *w = weights.buf, *x = columns.buf;
    double *total = totals.buf, *sum = sums.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    memset(total, 0, (size_t)groups * sizeof(double));
    memset(sum, 0, (size_t)groups * m * sizeof(double));
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t g = group[i];
        if ((Py_ssize_t)g >= groups) {
            bad = 1;
            break;
        }
        total[g] += w[i];
        for (int a = 0; a < m; a++) {
            sum[(size_t)g * m + a] += w[i] * x[i * m + a];
        }
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&index);
    PyBuffer_Release(&weights);
    PyBuffer_Release(&columns);
    PyBuffer_Release(&totals);
    PyBuffer_Release(&sums);
    if (bad) {
        PyErr_SetString(PyExc_IndexError, "group_sums: group index out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* truecolor_rows(indices uint8 (rows x width), rows, width, palette uint8 (k x channels), k,
 * channels, out uint8 (rows x (1 + width x channels))): PNG scanlines of the palette's colours,
 * each after a 0 byte (filter: none). */
static PyObject *kc_truecolor_rows(PyObject *self, PyObject *args) {
    PyObject *indices_obj, *palette_obj, *out_obj;
    Py_ssize_t rows, width;
    int k, channels;
    if (!PyArg_ParseTuple(args, "OnnOiiO", &indices_obj, &rows, &width, &palette_obj, &k,
                          &channels, &out_obj)) {
        return NULL;
    }
    if (channels < 1 || channels > 4 || k < 1 || k > 256) {
        PyErr_SetString(PyExc_ValueError, "truecolor_rows: bad palette");
        return NULL;
    }
    Py_buffer indices, palette, out;
    if (get_buffer(indices_obj, &indices, width, rows, 0, "indices") < 0) {
        return NULL;
    }
    if (get_buffer(palette_obj, &palette, channels, k, 0, "palette") < 0) {
        PyBuffer_Release(&indices);
        return NULL;
    }
    if (get_buffer(out_obj, &out, 1 + width * channels, rows, 1, "out") < 0) {
        PyBuffer_Release(&indices);
        PyBuffer_Release(&palette);
        return NULL;
    }
    const uint8_t *index = indices.buf, *colors = palette.buf;
    uint8_t *target = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t y = 0; y < rows && !bad; y++) {
        const uint8_t *row = index + y * width;
        uint8_t *line = target + y * (1 + width * channels);
        *line++ = 0;
        for (Py_ssize_t x = 0; x < width; x++) {
            int j = row[x];
            if (j >= k) {
                bad = 1;
                break;
            }
            for (int c = 0; c < channels; c++) {
                line[x * channels + c] = colors[j * channels + c];
            }
        }
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&indices);
    PyBuffer_Release(&palette);
    PyBuffer_Release(&out);
    if (bad) {
        PyErr_SetString(PyExc_IndexError, "truecolor_rows: index beyond the palette");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* sse(colors uint8 (n x channels), counts int64 (n), labels int32 (n), palette uint8 (k x channels),
 * n, k, channels) -> sum over colours of count x squared distance to palette[label], exactly. */
static PyObject *kc_sse(PyObject *self, PyObject *args) {
    PyObject *colors_obj, *counts_obj, *labels_obj, *palette_obj;
    Py_ssize_t n;
    int k, channels;
    if (!PyArg_ParseTuple(args, "OOOOnii", &colors_obj, &counts_obj, &labels_obj, &palette_obj,
                          &n, &k, &channels)) {
        return NULL;
    }
    if (channels < 1 || channels > 4 || k < 1) {
        PyErr_SetString(PyExc_ValueError, "sse: bad palette");
        return NULL;
    }
    Py_buffer colors, counts, labels, palette;
    if (get_buffer(colors_obj, &colors, channels, n, 0, "colors") < 0) {
        return NULL;
    }
    if (get_buffer(counts_obj, &counts, 8, n, 0, "counts") < 0) {
        PyBuffer_Release(&colors);
        return NULL;
    }
    if (get_buffer(labels_obj, &labels, 4, n, 0, "labels") < 0) {
        PyBuffer_Release(&colors);
        PyBuffer_Release(&counts);
        return NULL;
    }
    if (get_buffer(palette_obj, &palette, channels, k, 0, "palette") < 0) {
        PyBuffer_Release(&colors);
        PyBuffer_Release(&counts);
        PyBuffer_Release(&labels);
        return NULL;
    }
    const uint8_t *color = colors.buf, *entry = palette.buf;
    const int64_t *count = counts.buf;
    const int32_t *label = labels.buf;
    int64_t total = 0;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t j = label[i];
        if (j < 0 || j >= k) {
            bad = 1;
            break;
        }
        int64_t squared = 0;
        for (int c = 0; c < channels; c++) {
            int64_t t = (int64_t)color[i * channels + c] - entry[j * channels + c];
            squared += t * t;
        }
        total += count[i] * squared;
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&colors);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&palette);
    if (bad) {
        PyErr_SetString(PyExc_IndexError, "sse: label beyond the palette");
        return NULL;
    }
    return PyLong_FromLongLong(total);
}

/* out[i] = values[inverse[i]] */
static PyObject *kc_spread(PyObject *self, PyObject *args) {
    PyObject *inverse_obj, *values_obj, *out_obj;
    Py_ssize_t n, distinct;
    if (!PyArg_ParseTuple(args, "OnOnO", &inverse_obj, &n, &values_obj, &distinct, &out_obj)) {
        return NULL;
    }
    Py_buffer inverse, values, out;
    if (get_buffer(inverse_obj, &inverse, 4, n, 0, "inverse") < 0) {
        return NULL;
    }
    if (get_buffer(values_obj, &values, 1, distinct, 0, "values") < 0) {
        PyBuffer_Release(&inverse);
        return NULL;
    }
    if (get_buffer(out_obj, &out, 1, n, 1, "out") < 0) {
        PyBuffer_Release(&inverse);
        PyBuffer_Release(&values);
        return NULL;
    }
    const uint32_t *index = inverse.buf;
    const uint8_t *value = values.buf;
    uint8_t *target = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t j = index[i];
        if (j >= (uint32_t)distinct) {
            bad = 1;
            break;
        }
        target[i] = value[j];
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&inverse);
    PyBuffer_Release(&values);
    PyBuffer_Release(&out);
    if (bad) {
        PyErr_SetString(PyExc_IndexError, "spread: colour index out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* Distances                                                                                    */

static inline double sq_dist(const double *a, const double *b, int d) {
    double s = 0.0;
    for (int i = 0; i < d; i++) {
        double t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

/* From this many centres on, a point's two nearest centres are searched from a guess, through
 * the other centres in order of their distance to the guessed one (Phillips' sort-means): a
 * centre at distance g from the guess is at least g - r from a point at distance r from the
 * guess, so the search stops once g - r exceeds the second-nearest distance found. Below it,
 * measuring every centre (a loop that vectorizes) is cheaper. */
#define KC_SORTED_FROM_K 24

typedef struct {
    int k;
    int d;
    const double *rows; /* k * d, borrowed */
    double *by_dim;     /* d * k: by dimension, so that the loop over centres vectorizes */
    double *scratch;    /* k */
    int sorted;
    int32_t *order;  /* k * k: for each centre, every centre by increasing distance to it */
    double *gap;     /* k * k: those distances, as they were when the row was last sorted */
    double *slack;   /* k: how far the centres have moved since: every true distance in row j
                      * is at least gap - slack[j], so the rows need not be sorted again
                      * while the centres only creep (the last Lloyd iterations) */
    double *half_gap; /* k: half the distance from each centre to the nearest other one */
} centers_t;

static void centers_free(centers_t *c) {
    free(c->by_dim);
    free(c->scratch);
    free(c->order);
    free(c->gap);
    free(c->half_gap);
    free(c->slack);
    c->by_dim = c->scratch = c->gap = c->half_gap = c->slack = NULL;
    c->order = NULL;
}

/* A row is sorted again once its slack passes this share of the distance from its centre to
 * the nearest other one: a larger slack only makes searches from that centre look further. */
#define KC_RESORT_SLACK 0.3

/* Sort row j again from its previous order (insertion sort: the lists barely change between
 * Lloyd iterations), with exact distances. */
static void resort_row(centers_t *c, int j) {
    const int k = c->k, d = c->d;
    const double *rows = c->rows;
    int32_t *order = c->order + (size_t)j * k;
    double *gap = c->gap + (size_t)j * k;
    for (int t = 0; t < k; t++) {
        gap[t] = sqrt(sq_dist(rows + j * d, rows + order[t] * d, d));
    }
    for (int t = 1; t < k; t++) {
        double g = gap[t];
        int32_t m = order[t];
        int u = t;
        while (u > 0 && (gap[u - 1] > g || (gap[u - 1] == g && order[u - 1] > m))) {
            gap[u] = gap[u - 1];
            order[u] = order[u - 1];
            u--;
        }
        gap[u] = g;
        order[u] = m;
    }
    c->slack[j] = 0.0;
}

/* The exact distance from centre j to the nearest other one, searched along its row: entries
 * whose lower bound (gap - slack) reaches the nearest found cannot be nearer. */
static double nearest_other(const centers_t *c, int j) {
    const int k = c->k, d = c->d;
    const int32_t *order = c->order + (size_t)j * k;
    const double *gap = c->gap + (size_t)j * k;
    const double slack = c->slack[j];
    double nearest = INFINITY;
    for (int t = 0; t < k; t++) {
        int m = order[t];
        if (m == j) {
            continue;
        }
        if (gap[t] - slack >= nearest) {
            break;
        }
        double v = sqrt(sq_dist(c->rows + j * d, c->rows + m * d, d));
        nearest = v < nearest ? v : nearest;
    }
    return nearest;
}

/* The centres' positions: `rows` (borrowed), and the same by dimension. */
static void set_rows(centers_t *c, const double *rows) {
    const int k = c->k, d = c->d;
    c->rows = rows;
    for (int j = 0; j < k; j++) {
        for (int a = 0; a < d; a++) {
            c->by_dim[a * k + j] = rows[j * d + a];
        }
    }
}

/* Take new positions of the centres (same k). `moved` (or NULL: unknown) is how far each
 * centre moved, `most` the largest of those. A row whose centre and neighbours crept only a
 * little keeps its order, and its slack grows by the most any distance in it can have shrunk;
 * the others are sorted again. */
static void centers_update(centers_t *c, const double *rows, const double *moved, double most) {
    const int k = c->k, d = c->d;
    set_rows(c, rows);
    if (!c->sorted) {
        for (int j = 0; j < k; j++) {
            double nearest = INFINITY;
            for (int m = 0; m < k; m++) {
                double v = m == j ? INFINITY : sq_dist(rows + j * d, rows + m * d, d);
                nearest = v < nearest ? v : nearest;
            }
            c->half_gap[j] = 0.5 * sqrt(nearest);
        }
        return;
    }
    for (int j = 0; j < k; j++) {
        if (moved == NULL) {
            resort_row(c, j);
        } else {
            c->slack[j] += moved[j] + most;
            if (c->slack[j] > KC_RESORT_SLACK * 2.0 * c->half_gap[j]) {
                resort_row(c, j);
            }
        }
        c->half_gap[j] = 0.5 * nearest_other(c, j);
    }
}

/* Sort `key` (n) ascending, carrying `index` along; stable, so equal keys keep their order.
 * Bottom-up merge sort through the scratch arrays (n each): the comparison is inlined, which
 * makes a row of 256 about five times quicker to sort than qsort's callback. */
static void merge_sort(double *key, int32_t *index, double *key_tmp, int32_t *index_tmp, int n) {
    double *from_key = key, *to_key = key_tmp;
    int32_t *from_index = index, *to_index = index_tmp;
    for (int width = 1; width < n; width *= 2) {
        for (int low = 0; low < n; low += 2 * width) {
            int middle = low + width < n ? low + width : n;
            int high = low + 2 * width < n ? low + 2 * width : n;
            int a = low, b = middle, out = low;
            while (a < middle && b < high) {
                int take_b = from_key[b] < from_key[a];
                to_key[out] = take_b ? from_key[b] : from_key[a];
                to_index[out++] = take_b ? from_index[b++] : from_index[a++];
            }
            while (a < middle) {
                to_key[out] = from_key[a];
                to_index[out++] = from_index[a++];
            }
            while (b < high) {
                to_key[out] = from_key[b];
                to_index[out++] = from_index[b++];
            }
        }
        double *swap_key = from_key;
        from_key = to_key;
        to_key = swap_key;
        int32_t *swap_index = from_index;
        from_index = to_index;
        to_index = swap_index;
    }
    if (from_key != key) {
        memcpy(key, from_key, (size_t)n * sizeof(double));
        memcpy(index, from_index, (size_t)n * sizeof(int32_t));
    }
}

static int centers_init(centers_t *c, const double *rows, int k, int d) {
    memset(c, 0, sizeof(*c));
    c->k = k;
    c->d = d;
    c->sorted = k >= KC_SORTED_FROM_K;
    c->by_dim = malloc((size_t)k * d * sizeof(double));
    c->scratch = malloc((size_t)k * sizeof(double));
    c->half_gap = malloc((size_t)k * sizeof(double));
    if (c->sorted) {
        c->order = malloc((size_t)k * k * sizeof(int32_t));
        c->gap = malloc((size_t)k * k * sizeof(double));
        c->slack = calloc((size_t)k, sizeof(double));
    }
    if (c->by_dim == NULL || c->scratch == NULL || c->half_gap == NULL ||
        (c->sorted && (c->order == NULL || c->gap == NULL || c->slack == NULL))) {
        centers_free(c);
        return -1;
    }
    if (!c->sorted) {
        centers_update(c, rows, NULL, 0.0);
        return 0;
    }
    /* First order: a full sort of each row (later updates re-sort from the last order). */
    double *key_tmp = malloc((size_t)k * sizeof(double));
    int32_t *index_tmp = malloc((size_t)k * sizeof(int32_t));
    if (key_tmp == NULL || index_tmp == NULL) {
        free(key_tmp);
        free(index_tmp);
        centers_free(c);
        return -1;
    }
    set_rows(c, rows);
    for (int j = 0; j < k; j++) {
        int32_t *order = c->order + (size_t)j * k;
        double *gap = c->gap + (size_t)j * k;
        for (int t = 0; t < k; t++) {
            gap[t] = sq_dist(rows + j * d, rows + t * d, d);
            order[t] = t;
        }
        merge_sort(gap, order, key_tmp, index_tmp, k);
        for (int t = 0; t < k; t++) {
            gap[t] = sqrt(gap[t]);
        }
        c->half_gap[j] = 0.5 * nearest_other(c, j);
    }
    free(key_tmp);
    free(index_tmp);
    return 0;
}

/* A first guess of each point's nearest centre, for the sorted search: the nearest centre of
 * the middle of the point's cell in a 16 x 16 x 16 grid over the points' bounding box (three
 * dimensions only; elsewhere the previous point's answer is the guess). A good guess is close,
 * so the search from it stops after a few centres. */
#define KC_GUIDE_CELLS 16

typedef struct {
    int on;
    double low[3];
    double scale[3];
    int32_t *best; /* per cell */
} guide_t;

static int two_nearest(const centers_t *c, const double *x, int guess, double *first,
                       double *second);

static int guide_init(guide_t *g, const double *x, Py_ssize_t n, int d, const centers_t *c) {
    memset(g, 0, sizeof(*g));
    if (!c->sorted || d != 3 || n < 4096) {
        return 0;
    }
    const int cells = KC_GUIDE_CELLS;
    double high[3];
    for (int a = 0; a < 3; a++) {
        g->low[a] = high[a] = x[a];
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        for (int a = 0; a < 3; a++) {
            double v = x[i * 3 + a];
            g->low[a] = v < g->low[a] ? v : g->low[a];
            high[a] = v > high[a] ? v : high[a];
        }
    }
    for (int a = 0; a < 3; a++) {
        double span = high[a] - g->low[a];
        g->scale[a] = span > 0.0 ? cells / (span * (1.0 + 1e-9)) : 0.0;
    }
    g->best = malloc((size_t)cells * cells * cells * sizeof(int32_t));
    if (g->best == NULL) {
        return -1;
    }
    int guess = 0;
    for (int i = 0; i < cells; i++) {
        for (int j = 0; j < cells; j++) {
            for (int l = 0; l < cells; l++) {
                double middle[3];
                int cell[3] = {i, j, l};
                for (int a = 0; a < 3; a++) {
                    middle[a] = g->scale[a] > 0.0 ? g->low[a] + (cell[a] + 0.5) / g->scale[a]
                                                  : g->low[a];
                }
                double d1, d2;
                guess = two_nearest(c, middle, guess, &d1, &d2);
                g->best[(i * cells + j) * cells + l] = guess;
            }
        }
    }
    g->on = 1;
    return 0;
}

static inline int guide_guess(const guide_t *g, const double *x, int fallback) {
    if (!g->on) {
        return fallback;
    }
    int cell[3];
    for (int a = 0; a < 3; a++) {
        int v = (int)((x[a] - g->low[a]) * g->scale[a]);
        cell[a] = v < 0 ? 0 : v >= KC_GUIDE_CELLS ? KC_GUIDE_CELLS - 1 : v;
    }
    return g->best[(cell[0] * KC_GUIDE_CELLS + cell[1]) * KC_GUIDE_CELLS + cell[2]];
}

static void guide_free(guide_t *g) {
    free(g->best);
    g->best = NULL;
    g->on = 0;
}

/* Squared distances from x to every centre, into c->scratch. */
KC_CLONES static void all_distances(const centers_t *c, const double *x) {
    const int k = c->k;
    double *restrict out = c->scratch;
    const double *restrict col = c->by_dim;
    double x0 = x[0];
    for (int j = 0; j < k; j++) {
        double t = x0 - col[j];
        out[j] = t * t;
    }
    for (int a = 1; a < c->d; a++) {
        const double *restrict cola = c->by_dim + (size_t)a * k;
        double xa = x[a];
        for (int j = 0; j < k; j++) {
            double t = xa - cola[j];
            out[j] += t * t;
        }
    }
}

/* Nearest centre (lowest index on ties) with its squared distance, and the second nearest's;
 * `guess` (any centre) only speeds up the search. */
static int two_nearest(const centers_t *c, const double *x, int guess, double *first,
                       double *second) {
    const int k = c->k, d = c->d;
    int best;
    double d1, d2 = INFINITY;
    if (!c->sorted) {
        all_distances(c, x);
        const double *dist = c->scratch;
        best = 0;
        d1 = dist[0];
        for (int j = 1; j < k; j++) {
            double v = dist[j];
            if (v < d1) {
                d2 = d1;
                d1 = v;
                best = j;
            } else if (v < d2) {
                d2 = v;
            }
        }
    } else {
        best = guess;
        d1 = sq_dist(x, c->rows + guess * d, d);
        double r = sqrt(d1);
        const int32_t *order = c->order + (size_t)guess * k;
        const double *gap = c->gap + (size_t)guess * k;
        r += c->slack[guess]; /* the row's distances may have shrunk by up to its slack */
        for (int t = 0; t < k; t++) {
            int m = order[t];
            if (m == guess) {
                continue;
            }
            double reach = gap[t] - r; /* no closer than this to x */
            /* The slack covers the rounding of the square roots: nothing at or under the
             * second distance is ever skipped. */
            if (reach > 0.0 && reach * reach > d2 * (1.0 + 1e-9) + 1e-9) {
                break;
            }
            double v = sq_dist(x, c->rows + m * d, d);
            if (v < d1 || (v == d1 && m < best)) {
                d2 = d1;
                d1 = v;
                best = m;
            } else if (v < d2) {
                d2 = v;
            }
        }
    }
    *first = d1;
    *second = d2;
    return best;
}

/* nearest(points, n, d, centers, k, labels, distances or None) */
static PyObject *kc_nearest(PyObject *self, PyObject *args) {
    PyObject *points_obj, *centers_obj, *labels_obj, *dist_obj;
    Py_ssize_t n;
    int d, k;
    if (!PyArg_ParseTuple(args, "OniOiOO", &points_obj, &n, &d, &centers_obj, &k, &labels_obj,
                          &dist_obj)) {
        return NULL;
    }
    if (d < 1 || d > KC_MAX_DIMS || k < 1) {
        PyErr_SetString(PyExc_ValueError, "nearest: bad dimensions");
        return NULL;
    }
    Py_buffer points, centers, labels, dist = {0};
    if (get_buffer(points_obj, &points, 8 * d, n, 0, "points") < 0) {
        return NULL;
    }
    if (get_buffer(centers_obj, &centers, 8 * d, k, 0, "centers") < 0) {
        PyBuffer_Release(&points);
        return NULL;
    }
    if (get_buffer(labels_obj, &labels, 4, n, 1, "labels") < 0) {
        PyBuffer_Release(&points);
        PyBuffer_Release(&centers);
        return NULL;
    }
    int with_dist = dist_obj != Py_None;
    if (with_dist && get_buffer(dist_obj, &dist, 8, n, 1, "distances") < 0) {
        PyBuffer_Release(&points);
        PyBuffer_Release(&centers);
        PyBuffer_Release(&labels);
        return NULL;
    }
    centers_t c;
    int failed = centers_init(&c, centers.buf, k, d);
    if (!failed) {
        const double *x = points.buf;
        int32_t *label = labels.buf;
        double *out = with_dist ? dist.buf : NULL;
        guide_t guide;
        Py_BEGIN_ALLOW_THREADS;
        failed = guide_init(&guide, x, n, d, &c) < 0;
        int guess = 0; /* else neighbouring points (colours in order of appearance) are alike */
        for (Py_ssize_t i = 0; i < n && !failed; i++) {
            double d1, d2;
            guess = guide_guess(&guide, x + i * d, guess);
            guess = label[i] = two_nearest(&c, x + i * d, guess, &d1, &d2);
            if (out != NULL) {
                out[i] = d1;
            }
        }
        guide_free(&guide);
        Py_END_ALLOW_THREADS;
        centers_free(&c);
    }
    PyBuffer_Release(&points);
    PyBuffer_Release(&centers);
    PyBuffer_Release(&labels);
    if (with_dist) {
        PyBuffer_Release(&dist);
    }
    if (failed) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* k-means++                                                                                    */

/* The k-means++ sums run over blocks of this many points: each block's sum is kept, so a draw
 * finds its block among n / KC_BLOCK sums and then its point within one block, instead of
 * summing every point before every draw. */
#define KC_BLOCK 64
#define KC_MAX_CANDIDATES 64

/* One k-means++ candidate: each point's squared distance to it, or to the nearest centre so far
 * if that is nearer (`row`), and the weighted sum of those per block (`blocks`) and in all.
 * The points come by dimension (`by_dim`, d x n). Within a block four running sums take every
 * fourth point, so the loop vectorizes; the order of every addition is fixed, so the sums are
 * the same with or without vector instructions. */
KC_CLONES static double seed_trial(const double *by_dim, const double *w, Py_ssize_t n, int d,
                                   const double *candidate, const double *closest, double *row,
                                   double *blocks) {
    double total = 0.0;
    for (Py_ssize_t low = 0, b = 0; low < n; low += KC_BLOCK, b++) {
        Py_ssize_t high = low + KC_BLOCK < n ? low + KC_BLOCK : n;
        double s[4] = {0.0, 0.0, 0.0, 0.0};
        Py_ssize_t i = low;
        if (d == 3) { /* colours: written out, so that the four points go in one vector */
            const double *x0 = by_dim, *x1 = by_dim + n, *x2 = by_dim + 2 * n;
            const double c0 = candidate[0], c1 = candidate[1], c2 = candidate[2];
            for (; i + 4 <= high; i += 4) {
                for (int l = 0; l < 4; l++) {
                    double t0 = x0[i + l] - c0, t1 = x1[i + l] - c1, t2 = x2[i + l] - c2;
                    double v = t0 * t0;
                    v += t1 * t1;
                    v += t2 * t2;
                    v = v < closest[i + l] ? v : closest[i + l];
                    row[i + l] = v;
                    s[l] += w[i + l] * v;
                }
            }
        }
        for (; i + 4 <= high; i += 4) {
            double v[4];
            for (int l = 0; l < 4; l++) {
                double t = by_dim[i + l] - candidate[0];
                v[l] = t * t;
            }
            for (int a = 1; a < d; a++) {
                const double *column = by_dim + (size_t)a * n;
                for (int l = 0; l < 4; l++) {
                    double t = column[i + l] - candidate[a];
                    v[l] += t * t;
                }
            }
            for (int l = 0; l < 4; l++) {
                v[l] = v[l] < closest[i + l] ? v[l] : closest[i + l];
                row[i + l] = v[l];
                s[l] += w[i + l] * v[l];
            }
        }
        for (int l = 0; i < high; i++, l++) {
            double t = by_dim[i] - candidate[0];
            double v = t * t;
            for (int a = 1; a < d; a++) {
                t = by_dim[(size_t)a * n + i] - candidate[a];
                v += t * t;
            }
            v = v < closest[i] ? v : closest[i];
            row[i] = v;
            s[l] += w[i] * v;
        }
        blocks[b] = (s[0] + s[1]) + (s[2] + s[3]);
        total += blocks[b];
    }
    return total;
}

/* The point a draw of `target` in [0, total) lands on: the first block whose running sum
 * reaches it, then the first point of that block whose running sum reaches what is left (or,
 * should rounding leave the target past them all, the block's last point that can be drawn). */
static Py_ssize_t draw_point(const double *blocks, const double *w, const double *closest,
                             Py_ssize_t n, double target) {
    Py_ssize_t n_blocks = (n + KC_BLOCK - 1) / KC_BLOCK, b = 0;
    double before = 0.0;
    while (b < n_blocks - 1 && before + blocks[b] < target) {
        before += blocks[b++];
    }
    Py_ssize_t low = b * KC_BLOCK, high = low + KC_BLOCK < n ? low + KC_BLOCK : n;
    double rest = target - before, running = 0.0;
    Py_ssize_t last = low;
    for (Py_ssize_t i = low; i < high; i++) {
        double mass = w[i] * closest[i];
        running += mass;
        if (mass > 0.0) {
            last = i;
        }
        if (running >= rest) {
            return i;
        }
    }
    return last;
}

/* Greedy weighted k-means++ (as scikit-learn does): centres[given..k) are picked, each as the
 * best of n_candidates points drawn in proportion to weight x squared distance to the nearest
 * centre so far. `uniforms` holds the random numbers in [0, 1): one for the first centre when
 * given == 0, then n_candidates per centre. */
static int seed_centers(const double *x, const double *w, Py_ssize_t n, int d, double *centers,
                        int given, int k, const double *uniforms, int n_candidates) {
    Py_ssize_t n_blocks = (n + KC_BLOCK - 1) / KC_BLOCK;
    double *closest = malloc((size_t)n * sizeof(double));
    double *by_dim = malloc((size_t)n * d * sizeof(double));
    double *trial = malloc((size_t)n * n_candidates * sizeof(double));
    double *blocks = malloc((size_t)n_blocks * (n_candidates + 1) * sizeof(double));
    if (closest == NULL || by_dim == NULL || trial == NULL || blocks == NULL) {
        free(closest);
        free(by_dim);
        free(trial);
        free(blocks);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        for (int a = 0; a < d; a++) {
            by_dim[(size_t)a * n + i] = x[i * d + a];
        }
    }
    const double *u = uniforms;
    if (given == 0) {
        /* The first centre: drawn in proportion to weight alone (closest = 1 everywhere). */
        double total = 0.0;
        for (Py_ssize_t low = 0, b = 0; low < n; low += KC_BLOCK, b++) {
            Py_ssize_t high = low + KC_BLOCK < n ? low + KC_BLOCK : n;
            double sum = 0.0;
            for (Py_ssize_t i = low; i < high; i++) {
                closest[i] = 1.0;
                sum += w[i];
            }
            blocks[b] = sum;
            total += sum;
        }
        Py_ssize_t first = draw_point(blocks, w, closest, n, *u++ * total);
        memcpy(centers, x + first * d, d * sizeof(double));
        given = 1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (int j = 0; j < given; j++) {
            double v = sq_dist(x + i * d, centers + j * d, d);
            if (v < best) {
                best = v;
            }
        }
        closest[i] = best;
    }
    double total = 0.0;
    for (Py_ssize_t low = 0, b = 0; low < n; low += KC_BLOCK, b++) {
        Py_ssize_t high = low + KC_BLOCK < n ? low + KC_BLOCK : n;
        double sum = 0.0;
        for (Py_ssize_t i = low; i < high; i++) {
            sum += w[i] * closest[i];
        }
        blocks[b] = sum;
        total += sum;
    }
    double *trial_blocks = blocks + n_blocks;
    for (int index = given; index < k; index++) {
        if (total <= 0.0) { /* every point already sits on a centre */
            for (int j = index; j < k; j++) {
                memcpy(centers + j * d, centers, d * sizeof(double));
            }
            break;
        }
        double best_potential = INFINITY;
        int best = 0;
        Py_ssize_t best_point = 0;
        for (int t = 0; t < n_candidates; t++) {
            Py_ssize_t point = draw_point(blocks, w, closest, n, *u++ * total);
            double potential = seed_trial(by_dim, w, n, d, x + point * d, closest,
                                          trial + (size_t)t * n, trial_blocks + t * n_blocks);
            if (potential < best_potential) {
                best_potential = potential;
                best = t;
                best_point = point;
            }
        }
        memcpy(centers + (size_t)index * d, x + best_point * d, d * sizeof(double));
        memcpy(closest, trial + (size_t)best * n, (size_t)n * sizeof(double));
        memcpy(blocks, trial_blocks + best * n_blocks, (size_t)n_blocks * sizeof(double));
        total = best_potential;
    }
    free(closest);
    free(by_dim);
    free(trial);
    free(blocks);
    return 0;
}

/* seed(points, n, d, weights, centers (k rows, the first `given` filled), given, k, uniforms,
 * n_uniforms, n_candidates) */
static PyObject *kc_seed(PyObject *self, PyObject *args) {
    PyObject *points_obj, *weights_obj, *centers_obj, *uniforms_obj;
    Py_ssize_t n, n_uniforms;
    int d, given, k, n_candidates;
    if (!PyArg_ParseTuple(args, "OniOOiiOni", &points_obj, &n, &d, &weights_obj, &centers_obj,
                          &given, &k, &uniforms_obj, &n_uniforms, &n_candidates)) {
        return NULL;
    }
    Py_ssize_t needed = (given == 0) + (Py_ssize_t)(k - (given ? given : 1)) * n_candidates;
    if (d < 1 || d > KC_MAX_DIMS || n < 1 || k < 1 || given < 0 || given > k ||
        n_candidates < 1 || n_candidates > KC_MAX_CANDIDATES || n_uniforms < needed) {
        PyErr_SetString(PyExc_ValueError, "seed: bad arguments");
        return NULL;
    }
    Py_buffer points, weights, centers, uniforms;
    if (get_buffer(points_obj, &points, 8 * d, n, 0, "points") < 0) {
        return NULL;
    }
    if (get_buffer(weights_obj, &weights, 8, n, 0, "weights") < 0) {
        PyBuffer_Release(&points);
        return NULL;
    }
    if (get_buffer(centers_obj, &centers, 8 * d, k, 1, "centers") < 0) {
        PyBuffer_Release(&points);
        PyBuffer_Release(&weights);
        return NULL;
    }
    if (get_buffer(uniforms_obj, &uniforms, 8, n_uniforms, 0, "uniforms") < 0) {
        PyBuffer_Release(&points);
        PyBuffer_Release(&weights);
        PyBuffer_Release(&centers);
        return NULL;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = seed_centers(points.buf, weights.buf, n, d, centers.buf, given, k, uniforms.buf,
                          n_candidates);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&points);
    PyBuffer_Release(&weights);
    PyBuffer_Release(&centers);
    PyBuffer_Release(&uniforms);
    if (failed) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* Lloyd with Hamerly's bounds                                                                  */

typedef struct {
    const double *x;
    const double *w;
    Py_ssize_t n;
    int d;
    int k;
    double *centers; /* k * d, in/out */
    int32_t *labels; /* n, out */
    double *upper;   /* n: >= distance to the own centre */
    double *lower;   /* n: <= distance to any other centre */
    double *sums;    /* k * d: weighted coordinate sums of each cluster */
    double *totals;  /* k: total weight of each cluster */
} lloyd_t;

static int assign_all(lloyd_t *s, centers_t *c) {
    memset(s->sums, 0, (size_t)s->k * s->d * sizeof(double));
    memset(s->totals, 0, (size_t)s->k * sizeof(double));
    guide_t guide;
    if (guide_init(&guide, s->x, s->n, s->d, c) < 0) {
        return -1;
    }
    int best = 0;
    for (Py_ssize_t i = 0; i < s->n; i++) {
        const double *x = s->x + i * s->d;
        double d1, d2;
        best = two_nearest(c, x, guide_guess(&guide, x, best), &d1, &d2);
        s->labels[i] = best;
        s->upper[i] = sqrt(d1);
        s->lower[i] = sqrt(d2);
        s->totals[best] += s->w[i];
        for (int a = 0; a < s->d; a++) {
            s->sums[best * s->d + a] += s->w[i] * x[a];
        }
    }
    guide_free(&guide);
    return 0;
}

/* Move empty clusters onto the points farthest from their centres (as scikit-learn does). */
static int relocate_empty(lloyd_t *s, double *new_centers) {
    int empty = 0;
    for (int j = 0; j < s->k; j++) {
        empty += s->totals[j] <= 0.0;
    }
    if (empty == 0) {
        return 0;
    }
    /* Pick the `empty` costliest points (weight x squared distance), highest first. */
    Py_ssize_t *chosen = malloc((size_t)empty * sizeof(Py_ssize_t));
    double *costs = malloc((size_t)empty * sizeof(double));
    if (chosen == NULL || costs == NULL) {
        free(chosen);
        free(costs);
        return -1;
    }
    int found = 0;
    for (Py_ssize_t i = 0; i < s->n; i++) {
        const double *x = s->x + i * s->d;
        double cost = s->w[i] * sq_dist(x, s->centers + s->labels[i] * s->d, s->d);
        if (found == empty && cost <= costs[found - 1]) {
            continue;
        }
        int at = found < empty ? found++ : found - 1;
        while (at > 0 && costs[at - 1] < cost) {
            costs[at] = costs[at - 1];
            chosen[at] = chosen[at - 1];
            at--;
        }
        costs[at] = cost;
        chosen[at] = i;
    }
    int next = 0;
    for (int j = 0; j < s->k && next < found; j++) {
        if (s->totals[j] <= 0.0 && costs[next] > 0.0) {
            memcpy(new_centers + j * s->d, s->x + chosen[next++] * s->d, s->d * sizeof(double));
        }
    }
    free(chosen);
    free(costs);
    return next > 0;
}

/* Lower bounds decay by the largest move of a centre that could be the second nearest. With
 * sorted neighbour lists, that is a centre within u + l + (largest move) of the own centre
 * (a centre farther away stays farther than l), so each centre keeps the largest move among
 * its neighbours within 1, 2, 4, ... 2^(KC_RADII - 1) units; beyond, the largest of all. */
#define KC_RADII 12

/* floor(log2(x)) of a finite x > 0 (ilogb without the call, for the hottest loop). */
static inline int binary_exponent(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof(bits));
    return (int)((bits >> 52) & 0x7ff) - 1023;
}

static void local_moves(const centers_t *c, const double *moved, double *local) {
    const int k = c->k;
    for (int a = 0; a < k; a++) {
        const int32_t *order = c->order + (size_t)a * k;
        const double *gap = c->gap + (size_t)a * k;
        const double slack = c->slack[a]; /* a neighbour may be nearer than its gap by this */
        double largest = 0.0;
        int t = 0;
        for (int u = 0; u < k && t < KC_RADII; u++) {
            int m = order[u];
            if (m == a) {
                continue;
            }
            while (t < KC_RADII && gap[u] - slack > (double)(1 << t)) {
                local[a * KC_RADII + t++] = largest;
            }
            largest = moved[m] > largest ? moved[m] : largest;
        }
        while (t < KC_RADII) {
            local[a * KC_RADII + t++] = largest;
        }
    }
}

KC_CLONES static int run_lloyd(lloyd_t *s, int max_iter, double threshold, int *iterations,
                               double *inertia) {
    const int k = s->k, d = s->d;
    const Py_ssize_t n = s->n;
    double *new_centers = malloc((size_t)k * d * sizeof(double));
    double *moved = malloc((size_t)k * sizeof(double));
    double *local = malloc((size_t)k * KC_RADII * sizeof(double));
    centers_t c;
    if (new_centers == NULL || moved == NULL || local == NULL ||
        centers_init(&c, s->centers, k, d) < 0) {
        free(new_centers);
        free(moved);
        free(local);
        return -1;
    }
    if (assign_all(s, &c) < 0) {
        goto fail;
    }
    int iteration = 0;
    while (iteration < max_iter) {
        iteration++;
        for (int j = 0; j < k; j++) {
            for (int a = 0; a < d; a++) {
                new_centers[j * d + a] = s->totals[j] > 0.0 ? s->sums[j * d + a] / s->totals[j]
                                                             : s->centers[j * d + a];
            }
        }
        int relocated = relocate_empty(s, new_centers);
        if (relocated < 0) {
            goto fail;
        }
        double shift = 0.0, most = 0.0, second_most = 0.0;
        int most_index = -1;
        for (int j = 0; j < k; j++) {
            double m2 = sq_dist(new_centers + j * d, s->centers + j * d, d);
            double m = sqrt(m2);
            moved[j] = m;
            shift += m2;
            if (m > most) {
                second_most = most;
                most = m;
                most_index = j;
            } else if (m > second_most) {
                second_most = m;
            }
        }
        memcpy(s->centers, new_centers, (size_t)k * d * sizeof(double));
        if (shift <= threshold && !relocated) {
            break;
        }
        if (c.sorted) {
            local_moves(&c, moved, local); /* from the neighbour lists of the old positions */
        }
        centers_update(&c, s->centers, moved, most);
        if (relocated) { /* the bounds no longer hold: measure everything again */
            if (assign_all(s, &c) < 0) {
                goto fail;
            }
            continue;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            int own = s->labels[i];
            double decay = own == most_index ? second_most : most;
            if (c.sorted) {
                double reach = s->upper[i] + s->lower[i] + most;
                int t = reach <= 1.0 ? 0 : binary_exponent(reach) + 1; /* 2^t >= reach */
                if (t < KC_RADII) {
                    decay = local[own * KC_RADII + t];
                }
            }
            s->upper[i] += moved[own];
            s->lower[i] -= decay;
            double bound = s->lower[i] > c.half_gap[own] ? s->lower[i] : c.half_gap[own];
            if (s->upper[i] <= bound) {
                continue;
            }
            const double *x = s->x + i * d;
            s->upper[i] = sqrt(sq_dist(x, s->centers + own * d, d));
            if (s->upper[i] <= bound) {
                continue;
            }
            double d1, d2;
            int best = two_nearest(&c, x, own, &d1, &d2);
            s->upper[i] = sqrt(d1);
            s->lower[i] = sqrt(d2);
            if (best != own) {
                double weight = s->w[i];
                s->totals[own] -= weight;
                s->totals[best] += weight;
                for (int a = 0; a < d; a++) {
                    s->sums[own * d + a] -= weight * x[a];
                    s->sums[best * d + a] += weight * x[a];
                }
                s->labels[i] = best;
            }
        }
    }
    /* Inertia of the last assignment under the final centres: an upper bound on the true one,
     * equal to it at convergence, and enough to rank fits. */
    double total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        total += s->w[i] * sq_dist(s->x + i * d, s->centers + s->labels[i] * d, d);
    }
    *inertia = total;
    *iterations = iteration;
    centers_free(&c);
    free(new_centers);
    free(moved);
    free(local);
    return 0;
fail:
    centers_free(&c);
    free(new_centers);
    free(moved);
    free(local);
    return -1;
}

/* scikit-learn's convergence threshold: tol x the mean over dimensions of the weighted
 * variance of the points. */
static double shift_threshold(const double *x, const double *w, Py_ssize_t n, int d, double tol) {
    double mean[KC_MAX_DIMS] = {0}, spread[KC_MAX_DIMS] = {0}, total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        total += w[i];
        for (int a = 0; a < d; a++) {
            mean[a] += w[i] * x[i * d + a];
        }
    }
    if (total <= 0.0) {
        return 0.0;
    }
    for (int a = 0; a < d; a++) {
        mean[a] /= total;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        for (int a = 0; a < d; a++) {
            double t = x[i * d + a] - mean[a];
            spread[a] += w[i] * t * t;
        }
    }
    double variance = 0.0;
    for (int a = 0; a < d; a++) {
        variance += spread[a] / total;
    }
    return tol * variance / d;
}

/* lloyd(points, n, d, weights, centers (in/out), k, labels (out), max_iter, tol)
 * -> (inertia, iterations) */
static PyObject *kc_lloyd(PyObject *self, PyObject *args) {
    PyObject *points_obj, *weights_obj, *centers_obj, *labels_obj;
    Py_ssize_t n;
    int d, k, max_iter;
    double tol;
    if (!PyArg_ParseTuple(args, "OniOOiOid", &points_obj, &n, &d, &weights_obj, &centers_obj, &k,
                          &labels_obj, &max_iter, &tol)) {
        return NULL;
    }
    if (d < 1 || d > KC_MAX_DIMS || n < 1 || k < 1) {
        PyErr_SetString(PyExc_ValueError, "lloyd: bad dimensions");
        return NULL;
    }
    Py_buffer points, weights, centers, labels;
    if (get_buffer(points_obj, &points, 8 * d, n, 0, "points") < 0) {
        return NULL;
    }
    if (get_buffer(weights_obj, &weights, 8, n, 0, "weights") < 0) {
        PyBuffer_Release(&points);
        return NULL;
    }
    if (get_buffer(centers_obj, &centers, 8 * d, k, 1, "centers") < 0) {
        PyBuffer_Release(&points);
        PyBuffer_Release(&weights);
        return NULL;
    }
    if (get_buffer(labels_obj, &labels, 4, n, 1, "labels") < 0) {
        PyBuffer_Release(&points);
        PyBuffer_Release(&weights);
        PyBuffer_Release(&centers);
        return NULL;
    }
    lloyd_t s = {points.buf, weights.buf, n, d, k, centers.buf, labels.buf, NULL, NULL, NULL, NULL};
    s.upper = malloc((size_t)n * sizeof(double));
    s.lower = malloc((size_t)n * sizeof(double));
    s.sums = malloc((size_t)k * d * sizeof(double));
    s.totals = malloc((size_t)k * sizeof(double));
    int failed = s.upper == NULL || s.lower == NULL || s.sums == NULL || s.totals == NULL;
    int iterations = 0;
    double inertia = 0.0;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS;
        double threshold = shift_threshold(s.x, s.w, n, d, tol);
        failed = run_lloyd(&s, max_iter, threshold, &iterations, &inertia) < 0;
        Py_END_ALLOW_THREADS;
    }
    free(s.upper);
    free(s.lower);
    free(s.sums);
    free(s.totals);
    PyBuffer_Release(&points);
    PyBuffer_Release(&weights);
    PyBuffer_Release(&centers);
    PyBuffer_Release(&labels);
    if (failed) {
        return PyErr_NoMemory();
    }
    return Py_BuildValue("(di)", inertia, iterations);
}

/* ------------------------------------------------------------------------------------------ */
/* Dithering                                                                                    */

/* Error diffusion onto a fixed palette, after pngquant (libimagequant's remap): serpentine
 * Floyd-Steinberg in which the error each pixel takes is scaled by a weight, so that runs of
 * one colour, where bands show, are dithered fully, and edges (where dots make jagged lines)
 * and noise (dithered by nature) lightly; and in which errors are attenuated, so that they
 * never pile up into streaks. Plain full-strength Floyd-Steinberg (Pillow's) costs 1-3 dB of
 * PSNR against pngquant's and makes files up to 40 % larger (docs/ENGINE.md). */

#define KC_DITHER_LEVEL 0.8   /* the share of its error a pixel takes (see docs/ENGINE.md) */
#define KC_DITHER_TINY 2.0    /* a push of a smaller squared size is dropped */
#define KC_DITHER_LOW (-25.5) /* how far a push may take a channel outside 0-255 */
#define KC_DITHER_HIGH 280.5
#define KC_DITHER_FLOOR 2032.0 /* least "large error" (squared, 0-255 scale): about 45 */

/* Each pixel becomes the largest (or smallest) value among itself and its 4 neighbours. */
#define KC_MAX8(a, b) ((a) > (b) ? (a) : (b))
#define KC_MIN8(a, b) ((a) < (b) ? (a) : (b))
#define KC_CROSS(OP)                                                                             \
    for (Py_ssize_t y = 0; y < h; y++) {                                                         \
        const uint8_t *restrict row = src + y * w;                                               \
        const uint8_t *restrict up = src + (y > 0 ? y - 1 : y) * w;                              \
        const uint8_t *restrict down = src + (y + 1 < h ? y + 1 : y) * w;                        \
        uint8_t *restrict out = dst + y * w;                                                     \
        for (Py_ssize_t x = 0; x < w; x++) {                                                     \
            out[x] = OP(OP(up[x], down[x]), row[x]);                                             \
        }                                                                                        \
        for (Py_ssize_t x = 1; x + 1 < w; x++) {                                                 \
            out[x] = OP(out[x], OP(row[x - 1], row[x + 1]));                                     \
        }                                                                                        \
        if (w > 1) {                                                                             \
            out[0] = OP(out[0], row[1]);                                                         \
            out[w - 1] = OP(out[w - 1], row[w - 2]);                                             \
        }                                                                                        \
    }

static void cross_extreme(const uint8_t *src, uint8_t *dst, Py_ssize_t w, Py_ssize_t h,
                          int largest) {
    if (largest) {
        KC_CROSS(KC_MAX8)
    } else {
        KC_CROSS(KC_MIN8)
    }
}

/* One row blurred across: 2r + 1 taps, the ends repeated. */
static void blur_row(const uint8_t *row, uint8_t *out, Py_ssize_t w, int r) {
    int sum = 0;
    for (int t = -r; t <= r; t++) {
        sum += row[t < 0 ? 0 : t < w ? t : w - 1];
    }
    for (Py_ssize_t x = 0; x < w; x++) {
        out[x] = (uint8_t)(sum / (2 * r + 1));
        Py_ssize_t gone = x - r, next = x + r + 1;
        sum += row[next < w ? next : w - 1] - row[gone > 0 ? gone : 0];
    }
}

/* Box blur of radius r, across then down, in place: rows are blurred across into a ring of
 * 2r + 2 rows, and down with a running sum per column (row-wise loops that vectorize). */
static int box_blur(uint8_t *img, Py_ssize_t w, Py_ssize_t h, int r) {
    const int ring = 2 * r + 2;
    int32_t *sums = malloc((size_t)w * sizeof(int32_t));
    uint8_t *rows = malloc((size_t)w * ring);
    if (sums == NULL || rows == NULL) {
        free(sums);
        free(rows);
        return -1;
    }
    Py_ssize_t ready = 0; /* rows blurred across so far */
    for (Py_ssize_t y = 0; y < h; y++) {
        Py_ssize_t needed = y + r + 1 < h ? y + r + 1 : h - 1;
        for (; ready <= needed; ready++) {
            blur_row(img + ready * w, rows + (ready % ring) * w, w, r);
        }
        if (y == 0) {
            memset(sums, 0, (size_t)w * sizeof(int32_t));
            for (int t = -r; t <= r; t++) {
                const uint8_t *row = rows + ((t < 0 ? 0 : t < h ? t : h - 1) % ring) * w;
                for (Py_ssize_t x = 0; x < w; x++) {
                    sums[x] += row[x];
                }
            }
        }
        uint8_t *out = img + y * w;
        for (Py_ssize_t x = 0; x < w; x++) {
            out[x] = (uint8_t)(sums[x] / (2 * r + 1));
        }
        const uint8_t *add = rows + (needed % ring) * w;
        const uint8_t *sub = rows + ((y - r > 0 ? y - r : 0) % ring) * w;
        for (Py_ssize_t x = 0; x < w; x++) {
            sums[x] += add[x] - sub[x];
        }
    }
    free(sums);
    free(rows);
    return 0;
}

/* The dithering weight of every pixel, 0-255. Local contrast (second differences across and
 * down, the largest over the channels) finds edges and noise; a long run of pixels that all
 * take one palette colour undithered, with the same colour above and below, is where bands
 * show, so it gets nearly all of the error; a run of one pixel a third to two thirds. */
#if defined(__GNUC__)
#define KC_INLINE static inline __attribute__((always_inline))
#else
#define KC_INLINE static inline
#endif

/* Local contrast: each pixel's edge value (255 less its contrast) and noise value. Inlined
 * for each channel count, so that the channel loops unroll. */
KC_INLINE void contrast(const uint8_t *px, Py_ssize_t h, Py_ssize_t w, const int ch,
                        uint8_t *noise, uint8_t *edges) {
    const Py_ssize_t stride = w * ch;
    /* Noise is contrast in both directions (a straight edge has it in one): the larger of
     * 2 x edge - |across - down| and 2 x the lesser, 0-1020, gives the noise value. */
    uint8_t noise_of[1021];
    for (int m = 0; m <= 1020; m++) {
        double z = 1.0 - m * (0.5 / 255.0);
        z = z > 0.0 ? z * z * z * z : 0.0;
        int level = 80 + (int)(z * 176.0);
        noise_of[m] = (uint8_t)(level < 255 ? level : 255);
    }
    for (Py_ssize_t y = 0; y < h; y++) {
        for (Py_ssize_t x = 0; x < w; x++) {
            const uint8_t *c = px + y * stride + x * ch;
            const uint8_t *l = x > 0 ? c - ch : c, *r = x + 1 < w ? c + ch : c;
            const uint8_t *u = y > 0 ? c - stride : c, *d = y + 1 < h ? c + stride : c;
            int across = 0, down = 0;
            for (int a = 0; a < ch; a++) {
                int t = abs(l[a] + r[a] - 2 * c[a]), v = abs(u[a] + d[a] - 2 * c[a]);
                across = t > across ? t : across;
                down = v > down ? v : down;
            }
            int edge = across > down ? across : down, least = across < down ? across : down;
            int m = 2 * edge - abs(across - down);
            noise[y * w + x] = noise_of[m > 2 * least ? m : 2 * least];
            edges[y * w + x] = (uint8_t)(edge < 255 ? 255 - edge : 0);
        }
    }
}

static int dither_weights(const uint8_t *px, Py_ssize_t h, Py_ssize_t w, int ch,
                          const uint8_t *index, uint8_t *out) {
    const Py_ssize_t n = h * w;
    uint8_t *noise = malloc((size_t)n), *tmp = malloc((size_t)n);
    if (noise == NULL || tmp == NULL) {
        free(noise);
        free(tmp);
        return -1;
    }
    if (ch == 3) {
        contrast(px, h, w, 3, noise, out);
    } else if (ch == 4) {
        contrast(px, h, w, 4, noise, out);
    } else {
        contrast(px, h, w, ch, noise, out);
    }
    /* Noise areas grow, are smoothed and shrink back: thin edges leave the noise map. */
    cross_extreme(noise, tmp, w, h, 1);
    cross_extreme(tmp, noise, w, h, 1);
    if (box_blur(noise, w, h, 3) < 0) {
        free(noise);
        free(tmp);
        return -1;
    }
    cross_extreme(noise, tmp, w, h, 1);
    cross_extreme(tmp, noise, w, h, 0);
    cross_extreme(noise, tmp, w, h, 0);
    cross_extreme(tmp, noise, w, h, 0);
    cross_extreme(out, tmp, w, h, 0);
    cross_extreme(tmp, out, w, h, 1);
    for (Py_ssize_t y = 0; y < h; y++) {
        const uint8_t *row = index + y * w;
        const uint8_t *up = y > 0 ? row - w : NULL, *down = y + 1 < h ? row + w : NULL;
        Py_ssize_t start = 0;
        for (Py_ssize_t x = 1; x <= w; x++) {
            if (x < w && row[x] == row[start]) {
                continue;
            }
            int neighbours = 10 * (int)(x - start);
            for (Py_ssize_t i = start; i < x; i++) {
                neighbours += (up != NULL && up[i] == row[start]) * 15;
                neighbours += (down != NULL && down[i] == row[start]) * 15;
            }
            double share = 1.0 - 20.0 / (20.0 + neighbours);
            for (Py_ssize_t i = start; i < x; i++) {
                int e = noise[y * w + i] < out[y * w + i] ? noise[y * w + i] : out[y * w + i];
                out[y * w + i] = (uint8_t)((e + 128) * (255.0 / 383.0) * share);
            }
            start = x;
        }
    }
    free(noise);
    free(tmp);
    return 0;
}

/* dither_weights(pixels uint8 (h x w x channels), h, w, channels, undithered uint8 (h x w),
 * out uint8 (h x w)) */
static PyObject *kc_dither_weights(PyObject *self, PyObject *args) {
    PyObject *pixels_obj, *index_obj, *out_obj;
    Py_ssize_t h, w;
    int ch;
    if (!PyArg_ParseTuple(args, "OnniOO", &pixels_obj, &h, &w, &ch, &index_obj, &out_obj)) {
        return NULL;
    }
    if (ch < 1 || ch > 4 || h < 1 || w < 1) {
        PyErr_SetString(PyExc_ValueError, "dither_weights: bad dimensions");
        return NULL;
    }
    Py_buffer pixels, index, out;
    if (get_buffer(pixels_obj, &pixels, ch, h * w, 0, "pixels") < 0) {
        return NULL;
    }
    if (get_buffer(index_obj, &index, 1, h * w, 0, "undithered") < 0) {
        PyBuffer_Release(&pixels);
        return NULL;
    }
    if (get_buffer(out_obj, &out, 1, h * w, 1, "out") < 0) {
        PyBuffer_Release(&pixels);
        PyBuffer_Release(&index);
        return NULL;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = dither_weights(pixels.buf, h, w, ch, index.buf, out.buf) < 0;
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&pixels);
    PyBuffer_Release(&index);
    PyBuffer_Release(&out);
    if (failed) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* The nearest centre to x (lowest index on ties), searched from `guess` as in two_nearest. */
KC_INLINE int nearest_one(const centers_t *c, const double *x, int guess) {
    const int k = c->k, d = c->d;
    int best = 0;
    double d1;
    if (!c->sorted) {
        all_distances(c, x);
        const double *dist = c->scratch;
        d1 = dist[0];
        for (int j = 1; j < k; j++) {
            if (dist[j] < d1) {
                d1 = dist[j];
                best = j;
            }
        }
        return best;
    }
    best = guess;
    d1 = sq_dist(x, c->rows + guess * d, d);
    double r = sqrt(d1) + c->slack[guess];
    const int32_t *order = c->order + (size_t)guess * k;
    const double *gap = c->gap + (size_t)guess * k;
    for (int t = 0; t < k; t++) {
        int m = order[t];
        if (m == guess) {
            continue;
        }
        double reach = gap[t] - r;
        if (reach > 0.0 && reach * reach > d1 * (1.0 + 1e-9) + 1e-9) {
            break;
        }
        double v = sq_dist(x, c->rows + m * d, d);
        if (v < d1 || (v == d1 && m < best)) {
            d1 = v;
            best = m;
        }
    }
    return best;
}

typedef struct {
    const uint8_t *px;
    Py_ssize_t h, w;
    int ch;
    const uint8_t *undithered;
    const uint8_t *weights; /* or NULL: full strength everywhere */
    uint8_t *out;
    int clear;          /* the fully transparent entry, or -1 */
    const int32_t *visible; /* search position -> palette entry */
    const int32_t *place;   /* palette entry -> search position, or -1 */
} dither_t;

/* Serpentine Floyd-Steinberg over the visible palette entries (c). A pushed pixel is pulled
 * back so that no channel leaves -25.5..280.5, and a large error (squared, over max_error) is
 * passed on at 3/4 and taken at 4/5: a saturated colour next to a far palette entry then
 * makes no streak of odd dots. Fully transparent pixels take the clear entry and pass nothing
 * on. Returns -1 when out of memory. */
KC_INLINE int diffuse_pixels(const dither_t *s, const centers_t *c, double max_error,
                              const int ch) {
    const Py_ssize_t w = s->w;
    double *err = calloc((size_t)(w + 2) * ch * 2, sizeof(double));
    if (err == NULL) {
        return -1;
    }
    double *this_err = err, *next_err = err + (w + 2) * ch;
    int last = 0;
    for (Py_ssize_t y = 0; y < s->h; y++) {
        memset(next_err, 0, (size_t)(w + 2) * ch * sizeof(double));
        const int forward = (y & 1) == 0;
        for (Py_ssize_t t = 0; t < w; t++) {
            const Py_ssize_t x = forward ? t : w - 1 - t, i = y * w + x;
            const uint8_t *p = s->px + i * ch;
            if (ch == 4 && p[3] == 0 && s->clear >= 0) {
                s->out[i] = (uint8_t)s->clear;
                continue;
            }
            double level = KC_DITHER_LEVEL;
            if (s->weights != NULL) {
                level *= s->weights[i] * (1.0 / 255.0);
            }
            const double *e = this_err + (x + 1) * ch;
            double target[KC_MAX_DIMS], push[KC_MAX_DIMS], size = 0.0;
            for (int a = 0; a < ch; a++) {
                push[a] = e[a] * level;
                size += push[a] * push[a];
                target[a] = p[a];
            }
            if (size >= KC_DITHER_TINY) {
                double ratio = 1.0;
                for (int a = 0; a < ch && a < 3; a++) {
                    double v = p[a] + push[a];
                    if (v > KC_DITHER_HIGH) {
                        ratio = fmin(ratio, (KC_DITHER_HIGH - p[a]) / push[a]);
                    } else if (v < KC_DITHER_LOW) {
                        ratio = fmin(ratio, (KC_DITHER_LOW - p[a]) / push[a]);
                    }
                }
                if (size > max_error) {
                    ratio *= 0.8;
                }
                for (int a = 0; a < ch && a < 3; a++) {
                    target[a] = p[a] + push[a] * ratio;
                }
                if (ch == 4) {
                    target[3] = fmin(255.0, fmax(0.0, p[3] + push[3]));
                }
            }
            int guess = s->place[s->undithered[i]];
            const int j = nearest_one(c, target, guess >= 0 ? guess : last);
            last = j;
            s->out[i] = (uint8_t)s->visible[j];
            double diff[KC_MAX_DIMS], squared = 0.0;
            for (int a = 0; a < ch; a++) {
                diff[a] = target[a] - c->rows[j * ch + a];
                squared += diff[a] * diff[a];
            }
            const double scale = squared > max_error ? 0.75 : 1.0;
            double *same = this_err + (forward ? x + 2 : x) * ch;
            double *ahead = next_err + (forward ? x + 2 : x) * ch; /* the 1/16 share */
            double *below = next_err + (x + 1) * ch;
            double *behind = next_err + (forward ? x : x + 2) * ch; /* the 3/16 share */
            for (int a = 0; a < ch; a++) {
                double v = diff[a] * scale;
                same[a] += v * (7.0 / 16.0);
                behind[a] += v * (3.0 / 16.0);
                below[a] += v * (5.0 / 16.0);
                ahead[a] += v * (1.0 / 16.0);
            }
        }
        double *swap = this_err;
        this_err = next_err;
        next_err = swap;
    }
    free(err);
    return 0;
}

/* dither(pixels uint8 (h x w x channels), h, w, channels, palette uint8 (k x channels), k,
 * undithered uint8 (h x w): each pixel's nearest entry, weights uint8 (h x w) or None,
 * out uint8 (h x w)) */
static PyObject *kc_dither(PyObject *self, PyObject *args) {
    PyObject *pixels_obj, *palette_obj, *index_obj, *weights_obj, *out_obj;
    Py_ssize_t h, w;
    int ch, k;
    if (!PyArg_ParseTuple(args, "OnniOiOOO", &pixels_obj, &h, &w, &ch, &palette_obj, &k,
                          &index_obj, &weights_obj, &out_obj)) {
        return NULL;
    }
    if ((ch != 3 && ch != 4) || h < 1 || w < 1 || k < 1 || k > 256) {
        PyErr_SetString(PyExc_ValueError, "dither: bad dimensions");
        return NULL;
    }
    Py_buffer pixels, palette, index, weights = {0}, out;
    if (get_buffer(pixels_obj, &pixels, ch, h * w, 0, "pixels") < 0) {
        return NULL;
    }
    if (get_buffer(palette_obj, &palette, ch, k, 0, "palette") < 0) {
        PyBuffer_Release(&pixels);
        return NULL;
    }
    if (get_buffer(index_obj, &index, 1, h * w, 0, "undithered") < 0) {
        PyBuffer_Release(&pixels);
        PyBuffer_Release(&palette);
        return NULL;
    }
    int with_weights = weights_obj != Py_None;
    if (with_weights && get_buffer(weights_obj, &weights, 1, h * w, 0, "weights") < 0) {
        PyBuffer_Release(&pixels);
        PyBuffer_Release(&palette);
        PyBuffer_Release(&index);
        return NULL;
    }
    if (get_buffer(out_obj, &out, 1, h * w, 1, "out") < 0) {
        PyBuffer_Release(&pixels);
        PyBuffer_Release(&palette);
        PyBuffer_Release(&index);
        if (with_weights) {
            PyBuffer_Release(&weights);
        }
        return NULL;
    }
    const uint8_t *entry = palette.buf, *undithered = index.buf;
    int32_t visible[256], place[256];
    double rows[256 * KC_MAX_DIMS];
    int m = 0, clear = -1, failed = 0, bad = 0;
    for (int j = 0; j < 256; j++) {
        place[j] = -1;
    }
    /* Visible pixels are dithered onto the visible entries only: dithering spreads colour
     * error, never transparency. */
    for (int j = 0; j < k; j++) {
        if (ch == 4 && entry[j * ch + 3] == 0) {
            clear = clear < 0 ? j : clear;
            continue;
        }
        place[j] = m;
        visible[m] = j;
        for (int a = 0; a < ch; a++) {
            rows[m * ch + a] = entry[j * ch + a];
        }
        m++;
    }
    dither_t s = {pixels.buf, h, w, ch, undithered, with_weights ? weights.buf : NULL, out.buf,
                  clear, visible, place};
    Py_BEGIN_ALLOW_THREADS;
    /* Errors count as large from 2.4 times the undithered mapping's mean squared error. */
    double total = 0.0;
    for (Py_ssize_t i = 0; i < h * w && !bad; i++) {
        int j = undithered[i];
        bad = j >= k;
        for (int a = 0; a < ch && !bad; a++) {
            double t = (double)s.px[i * ch + a] - entry[j * ch + a];
            total += t * t;
        }
    }
    if (!bad && m == 0) {
        memset(out.buf, clear < 0 ? 0 : clear, (size_t)(h * w));
    } else if (!bad) {
        double max_error = fmax(2.4 * total / (double)(h * w), KC_DITHER_FLOOR);
        centers_t c;
        failed = centers_init(&c, rows, m, ch) < 0;
        if (!failed) {
            /* Inlined for each channel count, so that the channel loops unroll. */
            failed = (ch == 3 ? diffuse_pixels(&s, &c, max_error, 3)
                              : diffuse_pixels(&s, &c, max_error, 4)) < 0;
            centers_free(&c);
        }
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&pixels);
    PyBuffer_Release(&palette);
    PyBuffer_Release(&index);
    if (with_weights) {
        PyBuffer_Release(&weights);
    }
    PyBuffer_Release(&out);
    if (bad) {
        PyErr_SetString(PyExc_IndexError, "dither: undithered index beyond the palette");
        return NULL;
    }
    if (failed) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef kernel_methods[] = {
    {"histogram", kc_histogram, METH_VARARGS,
     "histogram(pixels, n, channels, inverse) -> (colors bytes, counts bytes)"},
    {"group", kc_group, METH_VARARGS, "group(codes, n, index) -> distinct codes"},
    {"group_sums", kc_group_sums, METH_VARARGS,
     "group_sums(index, n, groups, weights, columns, m, totals, sums)"},
    {"truecolor_rows", kc_truecolor_rows, METH_VARARGS,
     "truecolor_rows(indices, rows, width, palette, k, channels, out)"},
    {"sse", kc_sse, METH_VARARGS, "sse(colors, counts, labels, palette, n, k, channels) -> int"},
    {"spread", kc_spread, METH_VARARGS, "spread(inverse, n, values, distinct, out)"},
    {"nearest", kc_nearest, METH_VARARGS,
     "nearest(points, n, d, centers, k, labels, distances_or_None)"},
    {"seed", kc_seed, METH_VARARGS,
     "seed(points, n, d, weights, centers, given, k, uniforms, n_uniforms, n_candidates)"},
    {"lloyd", kc_lloyd, METH_VARARGS,
     "lloyd(points, n, d, weights, centers, k, labels, max_iter, tol) -> (inertia, n_iter)"},
    {"dither_weights", kc_dither_weights, METH_VARARGS,
     "dither_weights(pixels, h, w, channels, undithered, out)"},
    {"dither", kc_dither, METH_VARARGS,
     "dither(pixels, h, w, channels, palette, k, undithered, weights_or_None, out)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Compiled kernels of the kcolors engine (see kcolors/engine/kernels.py).", -1,
    kernel_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernel_module); }
