/* seqrt verify DIR for a folder written by models/torch_export.py: compare
 * every layer's output with PyTorch's and name the first that diverges.
 *
 * PyTorch's per-module outputs are DIR/layers/NNN_<module>.npy in execution
 * order. Each module maps to the seqrt layer of the same name, to the layer
 * it was folded into (BatchNorm after Conv: compared after the BN), or to
 * the list of modules removed at import (Dropout, Identity). */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "npy.h"

typedef enum row_status {
  ROW_OK,
  ROW_FAIL,
  ROW_REMOVED,    /* removed at import: nothing to compare */
  ROW_FOLDED,     /* folded into the next module's layer */
  ROW_MISSING,    /* no seqrt layer of that name */
  ROW_SHAPE,      /* element count differs */
  ROW_NOT_REACHED /* the run stopped before this layer */
} row_status;

static const char *const status_names[] = {
    "ok", "FAIL", "removed", "folded", "no layer", "shape", "not run"};

/* One PyTorch module, its reference output and its comparison. */
typedef struct row {
  int index;             /* position in PyTorch's execution order */
  char *module;          /* qualified module name */
  char module_class[64]; /* e.g. "BatchNorm2d", from manifest.json */
  char *path;            /* reference .npy */
  seqrt_tensor want;
  int layer; /* seqrt layer compared against, or -1 */
  row_status status;
  comparison result;
  double mean_abs;
} module_row;

typedef struct report {
  module_row *rows;
  int n_rows;
  int *row_of_layer; /* seqrt layer -> row compared at its output, or -1 */
  const options *o;
} report;

static void free_report(report *r) {
  for (int i = 0; i < r->n_rows; i++) {
    free(r->rows[i].module);
    free(r->rows[i].path);
    free(r->rows[i].want.data);
  }
  free(r->rows);
  free(r->row_of_layer);
}

static int npy_filter(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return n > 8 && strcmp(e->d_name + n - 4, ".npy") == 0 && e->d_name[3] == '_';
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* Reads DIR/layers/NNN_<module>.npy into rows, in order. */
static int read_rows(const char *dir, report *r) {
  char layers[4096];
  snprintf(layers, sizeof layers, "%s/layers", dir);
  struct dirent **files;
  int n = scandir(layers, &files, npy_filter, by_name);
  if (n < 0) return error_exit(EXIT_FAIL, "cannot read '%s'", layers);
  r->rows = calloc(n ? (size_t)n : 1, sizeof *r->rows);
  int rc = r->rows ? 0 : error_exit(EXIT_FAIL, "out of memory");
  for (int i = 0; i < n; i++) {
    const char *name = files[i]->d_name;
    if (!rc) {
      module_row *m = &r->rows[r->n_rows++];
      m->index = atoi(name);
      m->module = strndup(name + 4, strlen(name) - 8);
      m->layer = -1;
      if (asprintf(&m->path, "%s/%s", layers, name) < 0) m->path = NULL;
      if (!m->module || !m->path)
        rc = error_exit(EXIT_FAIL, "out of memory");
      else
        rc = read_tensor(m->path, &m->want);
    }
    free(files[i]);
  }
  free(files);
  return rc;
}

/* The value of "key" in the JSON object text [p, end): a string's text
 * (torch_export.py writes plain names, no escapes) or a number's digits. */
static int json_field(const char *p, const char *end, const char *key,
                      char *out, size_t size) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\"", key);
  size_t qlen = strlen(quoted);
  for (; p + qlen < end; p++) {
    if (strncmp(p, quoted, qlen) != 0) continue;
    p += qlen;
    while (p < end && (*p == ' ' || *p == ':' || *p == '\n')) p++;
    if (p >= end) return -1;
    if (*p != '"') {
      snprintf(out, size, "%.*s", (int)strcspn(p, ",}\n"), p);
      return 0;
    }
    const char *close = memchr(p + 1, '"', (size_t)(end - p - 1));
    if (!close) return -1;
    snprintf(out, size, "%.*s", (int)(close - p - 1), p + 1);
    return 0;
  }
  return -1;
}

/* Fills each row's module class from DIR/manifest.json ("layers": [{index,
 * name, class, ...}, ...]); a row keeps an empty class if it is absent. */
static void read_classes(const char *dir, report *r) {
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return;
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  char buf[4096];
  size_t got;
  while (mem && (got = fread(buf, 1, sizeof buf, f)) > 0)
    fwrite(buf, 1, got, mem);
  fclose(f);
  if (!mem) return;
  fclose(mem);
  const char *p = text ? strstr(text, "\"layers\"") : NULL;
  while (p && (p = strchr(p, '{')) != NULL) {
    const char *end = strchr(p, '}');
    if (!end) break;
    char index[32], cls[64];
    if (json_field(p, end, "index", index, sizeof index) == 0 &&
        json_field(p, end, "class", cls, sizeof cls) == 0)
      for (int i = 0; i < r->n_rows; i++)
        if (r->rows[i].index == atoi(index))
          snprintf(r->rows[i].module_class, sizeof r->rows[i].module_class,
                   "%s", cls);
    p = end + 1;
  }
  free(text);
}

/* Modules that vanish from an eval-mode export. */
static int is_removed_class(const char *cls) {
  return strstr(cls, "Dropout") != NULL || strcmp(cls, "Identity") == 0;
}

/* True if `name` is one entry of the comma-separated `list`. */
static int in_list(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *end = strchr(p, ',');
    size_t item = end ? (size_t)(end - p) : strlen(p);
    if (item == len && strncmp(p, name, len) == 0) return 1;
    p = end ? end + 1 : NULL;
  }
  return 0;
}

/* Whether layer `layer` holds a folded item that no module row names: an
 * operation of a forward (x * scale + shift after a Conv) whose PyTorch
 * output has no file, so no module's output is the layer's. */
static int folds_forward_ops(const seqrt_model *model, const report *r,
                             int layer) {
  seqrt_layer_info info;
  if (seqrt_model_layer(model, layer, &info) != SEQRT_OK) return 0;
  char *items = strdup(info.folded);
  int found = 0;
  for (char *save = NULL, *item = items ? strtok_r(items, ",", &save) : NULL;
       item && !found; item = strtok_r(NULL, ",", &save)) {
    found = 1;
    for (int i = 0; i < r->n_rows && found; i++)
      found = strcmp(r->rows[i].module, item) != 0;
  }
  free(items);
  return found;
}

/* Maps each module to a seqrt layer. A layer's output is compared with the
 * last module mapped to it, so a Conv whose BatchNorm was folded into it is
 * reported as folded and the comparison happens at the BatchNorm; a layer
 * with a forward's operations folded in is compared with no module (its
 * module reported as folded: the next layer's comparison covers it). */
static int map_rows(const seqrt_model *model, report *r) {
  int n_layers = seqrt_model_layer_count(model);
  r->row_of_layer = malloc((n_layers ? (size_t)n_layers : 1) * sizeof(int));
  if (!r->row_of_layer) return error_exit(EXIT_FAIL, "out of memory");
  for (int i = 0; i < n_layers; i++) r->row_of_layer[i] = -1;
  const char *removed = seqrt_model_removed_layers(model);
  int last_mapped = -1;
  for (int i = 0; i < r->n_rows; i++) {
    module_row *m = &r->rows[i];
    m->layer = seqrt_model_find_layer(model, m->module);
    if (m->layer < 0 &&
        (in_list(removed, m->module) || is_removed_class(m->module_class))) {
      m->status = ROW_REMOVED;
      continue;
    }
    /* the exporter folds BatchNorm into the Conv before it and leaves no
     * trace of the BN module: a module with no layer right after a mapped
     * one is compared at that layer's output */
    if (m->layer < 0 && last_mapped >= 0 &&
        r->row_of_layer[r->rows[last_mapped].layer] == last_mapped)
      m->layer = r->rows[last_mapped].layer;
    if (m->layer < 0) {
      m->status = ROW_MISSING;
      continue;
    }
    last_mapped = i;
    int previous = r->row_of_layer[m->layer];
    if (previous >= 0) r->rows[previous].status = ROW_FOLDED;
    r->row_of_layer[m->layer] = i;
    m->status = ROW_NOT_REACHED;
  }
  for (int l = 0; l < n_layers; l++) {
    if (r->row_of_layer[l] < 0 || !folds_forward_ops(model, r, l)) continue;
    r->rows[r->row_of_layer[l]].status = ROW_FOLDED;
    r->row_of_layer[l] = -1;
  }
  return 0;
}

static void compare_row(module_row *m, const seqrt_tensor *got,
                        const options *o) {
  size_t n = tensor_count(got);
  if (m->want.dtype != SEQRT_FLOAT32 || tensor_count(&m->want) != n) {
    m->status = ROW_SHAPE;
    return;
  }
  m->result = compare(got->data, m->want.data, n, o->atol, o->rtol);
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += fabs((double)((float *)got->data)[i] - ((float *)m->want.data)[i]);
  m->mean_abs = n ? sum / n : 0;
  m->status = m->result.failed ? ROW_FAIL : ROW_OK;
}

static int on_layer(void *user, int index, const char *name,
                    const seqrt_tensor *view) {
  report *r = user;
  int i = r->row_of_layer[index];
  if (i >= 0) compare_row(&r->rows[i], view, r->o);
  return 0;
}

/* A declared dim at a batch size: a dynamic -K is the batch times K. */
static int64_t dim_size(int64_t dim, int64_t batch) {
  return dim < 0 ? batch * -dim : dim;
}

static size_t element_count(const seqrt_shape *shape, int64_t batch) {
  size_t n = 1;
  for (int i = 0; i < shape->rank; i++)
    n *= (size_t)dim_size(shape->dims[i], batch);
  return n;
}

/* Runs layers first..last of `ctx` on `input`, observing each layer. */
static int run_observed(seqrt_context *ctx, const seqrt_model *model, int first,
                        int last, const seqrt_tensor *input, report *r) {
  seqrt_layer_info from, info;
  seqrt_model_layer(model, first, &from);
  seqrt_model_layer(model, last, &info);
  int64_t k_in = from.input.dims[0] < 0 ? -from.input.dims[0] : 1;
  seqrt_tensor out = {
      .data =
          malloc(element_count(&info.output, input->dims[0] / k_in) * 4 + 4)};
  if (!out.data) return error_exit(EXIT_FAIL, "out of memory");
  seqrt_status status =
      seqrt_run_layers(ctx, first, last, input, &out, on_layer, r);
  free(out.data);
  if (status != SEQRT_OK)
    return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
  return 0;
}

/* The reference input of layer `layer`: PyTorch's output of the module
 * compared at layer - 1, reshaped to the layer's declared input at the
 * run's `batch`. */
static int reference_input(const seqrt_model *model, const report *r, int layer,
                           int64_t batch, seqrt_tensor *in) {
  seqrt_layer_info info;
  seqrt_model_layer(model, layer, &info);
  const module_row *prev = &r->rows[r->row_of_layer[layer - 1]];
  *in = prev->want;
  in->rank = info.input.rank;
  for (int i = 0; i < info.input.rank; i++)
    in->dims[i] = dim_size(info.input.dims[i], batch);
  return element_count(&info.input, batch) == tensor_count(&prev->want) ? 0
                                                                        : -1;
}

/* --isolated: each layer starts from PyTorch's input for it, i.e. the
 * reference output of the previous compared layer. */
static int run_isolated(seqrt_context *ctx, const seqrt_model *model,
                        const seqrt_tensor *input, report *r) {
  int n_layers = seqrt_model_layer_count(model);
  int first = 0;
  for (int layer = 0; layer < n_layers; layer++) {
    if (r->row_of_layer[layer] < 0 && layer + 1 < n_layers) continue;
    seqrt_tensor in = *input;
    if (first > 0 &&
        reference_input(model, r, first, input->dims[0], &in) != 0) {
      first = layer + 1; /* a reshape we cannot follow: skip this range */
      continue;
    }
    int rc = run_observed(ctx, model, first, layer, &in, r);
    if (rc) return rc;
    first = layer + 1;
  }
  return 0;
}

static const char *layer_kind(const seqrt_model *model, int layer) {
  seqrt_layer_info info;
  if (layer < 0 || seqrt_model_layer(model, layer, &info) != SEQRT_OK)
    return "-";
  return info.kind;
}

static const module_row *first_divergent(const report *r) {
  for (int i = 0; i < r->n_rows; i++)
    if (r->rows[i].status == ROW_FAIL || r->rows[i].status == ROW_SHAPE)
      return &r->rows[i];
  return NULL;
}

static void print_table(const seqrt_model *model, const report *r,
                        const comparison *final, int passed) {
  const options *o = r->o;
  printf("%3s  %-24s %-12s %5s  %10s %10s %10s  %s\n", "#", "module", "kind",
         "layer", "max abs", "max rel", "mean abs", "status");
  for (int i = 0; i < r->n_rows; i++) {
    const module_row *m = &r->rows[i];
    char layer[16] = "-";
    if (m->layer >= 0) snprintf(layer, sizeof layer, "%d", m->layer);
    printf("%3d  %-24s %-12s %5s  ", m->index, m->module,
           layer_kind(model, m->layer), layer);
    if (m->status == ROW_OK || m->status == ROW_FAIL)
      printf("%10.3g %10.3g %10.3g  %s%s\n", m->result.max_abs,
             m->result.max_rel, m->mean_abs, status_names[m->status],
             m->result.nonfinite ? " (NaN/Inf where PyTorch is finite)" : "");
    else
      printf("%10s %10s %10s  %s\n", "-", "-", "-", status_names[m->status]);
  }
  const module_row *bad = first_divergent(r);
  printf("final output: max abs error %.3g, %zu elements beyond tolerance\n",
         final->max_abs, final->failed);
  printf("tolerance: atol %g, rtol %g (%s run)\n", o->atol, o->rtol,
         o->isolated ? "isolated" : "cumulative");
  if (bad) printf("first divergent layer: %s (#%d)\n", bad->module, bad->index);
  printf("%s\n", passed ? "PASS" : "FAIL");
}

static void print_json(const seqrt_model *model, const report *r,
                       const comparison *final, int passed) {
  const module_row *bad = first_divergent(r);
  printf("{\"passed\": %s, \"mode\": \"%s\", \"atol\": %g, \"rtol\": %g, "
         "\"first_divergent\": ",
         passed ? "true" : "false", r->o->isolated ? "isolated" : "cumulative",
         r->o->atol, r->o->rtol);
  if (bad)
    print_json_string(bad->module);
  else
    printf("null");
  printf(", \"output\": {\"max_abs\": %.6g, \"failed\": %zu}, \"layers\": [",
         final->max_abs, final->failed);
  for (int i = 0; i < r->n_rows; i++) {
    const module_row *m = &r->rows[i];
    int compared = m->status == ROW_OK || m->status == ROW_FAIL;
    printf("%s{\"index\": %d, \"name\": ", i ? ", " : "", m->index);
    print_json_string(m->module);
    printf(", \"kind\": ");
    print_json_string(layer_kind(model, m->layer));
    printf(", \"layer\": %d, \"status\": \"%s\", \"nonfinite\": %zu, ",
           m->layer, status_names[m->status], m->result.nonfinite);
    if (compared && isfinite(m->result.max_abs))
      printf("\"max_abs\": %.6g, \"max_rel\": %.6g, \"mean_abs\": %.6g}",
             m->result.max_abs, m->result.max_rel, m->mean_abs);
    else
      printf("\"max_abs\": null, \"max_rel\": null, \"mean_abs\": null}");
  }
  printf("]}\n");
}

static int check_final(const seqrt_model *model, const char *dir,
                       const seqrt_tensor *input, const options *o,
                       comparison *final) {
  char path[4096];
  snprintf(path, sizeof path, "%s/expected.npy", dir);
  seqrt_tensor want = {0}, got = {0};
  int rc = read_tensor(path, &want);
  if (!rc) rc = run_model(model, input, o->threads, &got, NULL);
  if (!rc && !same_shape(&got, &want))
    rc = error_exit(EXIT_FAIL, "output shape differs from '%s'", path);
  if (!rc)
    *final = compare(got.data, want.data, tensor_count(&got), o->atol, o->rtol);
  free(want.data);
  free(got.data);
  return rc;
}

int verify_layers(const char *dir, const options *o) {
  char path[4096];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  seqrt_model *model = NULL;
  int rc = load_model(path, &model);
  if (rc) return rc;
  report r = {.o = o};
  seqrt_tensor input = {0};
  seqrt_context *ctx = NULL;
  comparison final = {0};
  snprintf(path, sizeof path, "%s/input.npy", dir);
  if (!(rc = read_tensor(path, &input)) && !(rc = read_rows(dir, &r)) &&
      (read_classes(dir, &r), !(rc = map_rows(model, &r))) &&
      !(rc = check_final(model, dir, &input, o, &final))) {
    if (seqrt_context_create(model, &ctx) != SEQRT_OK ||
        seqrt_context_set_threads(ctx, o->threads) != SEQRT_OK)
      rc = error_exit(EXIT_FAIL, "%s", seqrt_last_error());
    else if (seqrt_model_layer_count(model) > 0)
      rc = o->isolated
               ? run_isolated(ctx, model, &input, &r)
               : run_observed(ctx, model, 0, seqrt_model_layer_count(model) - 1,
                              &input, &r);
  }
  if (!rc) {
    int passed = final.failed == 0 && first_divergent(&r) == NULL;
    if (o->json)
      print_json(model, &r, &final, passed);
    else
      print_table(model, &r, &final, passed);
    rc = passed ? EXIT_OK : EXIT_FAIL;
  }
  seqrt_context_free(ctx);
  free(input.data);
  free_report(&r);
  seqrt_model_free(model);
  return rc;
}
