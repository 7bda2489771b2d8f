/* Kernel windows of Conv and the pools: attributes, auto_pad and ceil_mode
 * resolved into explicit begin/end pads and output sizes. */
#include <stdint.h>
#include <string.h>

#include "ops.h"

static seqrt_status window_error(const sq_node *node, const char *what) {
  return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (%s): %s", node->name,
                  node->op, what);
}

/* A per-axis INTS attribute: absent, or `want` values each >= minimum. */
static seqrt_status read_axes_attr(const sq_node *node, const char *name,
                                   int want, int64_t minimum, int64_t *out,
                                   bool *present) {
  const int64_t *v;
  int n;
  seqrt_status st = sq_attr_ints(node, name, &v, &n);
  if (st != SEQRT_OK) return st;
  *present = n > 0;
  if (n == 0) return SEQRT_OK;
  if (n != want)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): attribute '%s' has %d values, expected "
                    "%d",
                    node->name, node->op, name, n, want);
  for (int k = 0; k < n; k++) {
    if (v[k] > INT32_MAX)
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (%s): attribute '%s' has the value %lld, "
                      "too large",
                      node->name, node->op, name, (long long)v[k]);
    if (v[k] < minimum)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (%s): attribute '%s' has the value %lld "
                      "(minimum %lld)",
                      node->name, node->op, name, (long long)v[k],
                      (long long)minimum);
    out[k] = v[k];
  }
  return SEQRT_OK;
}

static seqrt_status read_auto_pad(const sq_node *node, sq_auto_pad *out) {
  char text[32];
  seqrt_status st =
      sq_attr_string(node, "auto_pad", "NOTSET", text, sizeof text);
  if (st != SEQRT_OK) return st;
  static const char *names[] = {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"};
  if (!*text) strcpy(text, "NOTSET");
  for (int k = 0; k < 4; k++)
    if (strcmp(text, names[k]) == 0) {
      *out = (sq_auto_pad)k;
      return SEQRT_OK;
    }
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "node '%s' (%s): unknown auto_pad '%s'", node->name, node->op,
                  text);
}

static seqrt_status read_kernel(const sq_node *node,
                                const sq_window_rules *rules, sq_window *win) {
  bool present;
  int64_t kernel[SQ_MAX_SPATIAL];
  seqrt_status st =
      read_axes_attr(node, "kernel_shape", win->spatial, 1, kernel, &present);
  if (st != SEQRT_OK) return st;
  if (!present && !rules->kernel)
    return window_error(node, "attribute 'kernel_shape' is missing");
  for (int k = 0; k < win->spatial; k++) {
    if (present && rules->kernel && kernel[k] != rules->kernel[k])
      return window_error(node, "kernel_shape does not match the weights");
    win->kernel[k] = present ? kernel[k] : rules->kernel[k];
  }
  return SEQRT_OK;
}

seqrt_status sq_window_read(const sq_node *node, const sq_shape *in,
                            const sq_window_rules *rules, sq_window *win) {
  memset(win, 0, sizeof *win);
  win->spatial = in->rank - 2;
  if (win->spatial < 1 || win->spatial > SQ_MAX_SPATIAL)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) needs a 1-D to 3-D spatial input (rank 3 "
                    "to 5), got %s",
                    node->name, node->op, sq_fmt_shape(in));
  for (int k = 0; k < win->spatial; k++) win->stride[k] = win->dilation[k] = 1;
  bool present;
  int64_t pads[2 * SQ_MAX_SPATIAL] = {0};
  seqrt_status st = read_kernel(node, rules, win);
  if (st == SEQRT_OK)
    st =
        read_axes_attr(node, "strides", win->spatial, 1, win->stride, &present);
  if (st == SEQRT_OK && rules->dilations)
    st = read_axes_attr(node, "dilations", win->spatial, 1, win->dilation,
                        &present);
  if (st == SEQRT_OK)
    st = read_axes_attr(node, "pads", 2 * win->spatial, 0, pads, &present);
  if (st == SEQRT_OK) st = read_auto_pad(node, &win->auto_pad);
  int64_t ceil_mode = 0;
  if (st == SEQRT_OK && rules->ceil_mode)
    st = sq_attr_int(node, "ceil_mode", 0, &ceil_mode);
  if (st != SEQRT_OK) return st;
  if (ceil_mode != 0 && ceil_mode != 1)
    return window_error(node, "ceil_mode must be 0 or 1");
  win->ceil_mode = ceil_mode == 1;
  for (int k = 0; k < win->spatial; k++) {
    win->pad_begin[k] = pads[k];
    win->pad_end[k] = pads[win->spatial + k];
  }
  return SEQRT_OK;
}

/* Output size of one axis, enlarging pad_end for ceil_mode. */
static seqrt_status axis_size(const sq_node *node, sq_window *win, int k,
                              int64_t size) {
  int64_t eff = (win->kernel[k] - 1) * win->dilation[k] + 1;
  int64_t s = win->stride[k];
  if (win->auto_pad == SQ_AUTO_PAD_SAME_UPPER ||
      win->auto_pad == SQ_AUTO_PAD_SAME_LOWER) {
    int64_t out = (size + s - 1) / s;
    int64_t total = (out - 1) * s + eff - size;
    total = total > 0 ? total : 0;
    bool upper = win->auto_pad == SQ_AUTO_PAD_SAME_UPPER;
    win->pad_begin[k] = upper ? total / 2 : total - total / 2;
    win->pad_end[k] = total - win->pad_begin[k];
    win->out[k] = out;
    return SEQRT_OK;
  }
  if (win->auto_pad == SQ_AUTO_PAD_VALID)
    win->pad_begin[k] = win->pad_end[k] = 0;
  int64_t span = size + win->pad_begin[k] + win->pad_end[k] - eff;
  if (span < 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): the window (kernel %lld, dilation %lld) "
                    "is larger than the padded input (%lld) on spatial axis "
                    "%d",
                    node->name, node->op, (long long)win->kernel[k],
                    (long long)win->dilation[k],
                    (long long)(size + win->pad_begin[k] + win->pad_end[k]), k);
  win->out[k] = span / s + 1;
  if (!win->ceil_mode) return SEQRT_OK;
  int64_t out = (span + s - 1) / s + 1;
  /* the last window must start inside the input or its begin padding */
  if ((out - 1) * s >= size + win->pad_begin[k]) out--;
  if (out > win->out[k]) {
    int64_t extra = (out - 1) * s - span; /* window end past the pads */
    win->ceil_extra[k] = extra;
    win->pad_end[k] += extra;
    win->out[k] = out;
  }
  return SEQRT_OK;
}

seqrt_status sq_window_resolve(const sq_node *node, const sq_shape *in,
                               sq_window *win) {
  for (int k = 0; k < win->spatial; k++) {
    int64_t size = in->dims[2 + k];
    seqrt_status st = axis_size(node, win, k, size);
    if (st != SEQRT_OK) return st;
    int64_t eff = (win->kernel[k] - 1) * win->dilation[k] + 1;
    int64_t reach =
        (win->out[k] - 1) * win->stride[k] + eff - size - win->pad_begin[k];
    win->end_reach[k] = reach > 0 ? reach : 0;
  }
  return SEQRT_OK;
}

void sq_window_to_layer(const sq_window *win, sq_layer *layer) {
  layer->spatial = win->spatial;
  for (int k = 0; k < win->spatial; k++) {
    layer->kernel[k] = win->kernel[k];
    layer->stride[k] = win->stride[k];
    layer->dilation[k] = win->dilation[k];
    layer->pad_begin[k] = win->pad_begin[k];
    /* oneDNN refuses an end pad as wide as the window; the part the
     * windows never reach can go */
    int64_t eff = (win->kernel[k] - 1) * win->dilation[k] + 1;
    bool trim = win->pad_end[k] >= eff && win->pad_end[k] > win->end_reach[k];
    layer->pad_end[k] = trim ? win->end_reach[k] : win->pad_end[k];
  }
}

void sq_window_out_shape(const sq_window *win, const sq_shape *in,
                         int64_t channels, sq_shape *out) {
  *out = *in;
  out->dims[1] = channels;
  for (int k = 0; k < win->spatial; k++) out->dims[2 + k] = win->out[k];
}
