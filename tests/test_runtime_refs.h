// Naive double-precision references for the layer kinds beyond the first
// seven families' basics, written from the PyTorch / ONNX definitions.
// Included by test_runtime_util.h inside namespace sqtest, after Tensor,
// Spatial3 and the first references; not a standalone header.
#ifndef SEQRT_TEST_RUNTIME_REFS_H
#define SEQRT_TEST_RUNTIME_REFS_H

inline double ref_sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// log(1 + e^v) without overflow.
inline double ref_softplus(double v) {
  return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

// Row-major strides of dims.
inline Dims strides_of(const Dims &dims) {
  Dims s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

// Multi-index of flat position `flat` in dims.
inline Dims unravel(int64_t flat, const Dims &dims) {
  Dims idx(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    idx[i] = flat % dims[i];
    flat /= dims[i];
  }
  return idx;
}

inline int64_t ravel(const Dims &idx, const Dims &dims) {
  int64_t flat = 0;
  for (size_t i = 0; i < dims.size(); i++) flat = flat * dims[i] + idx[i];
  return flat;
}

// ---- elementwise -----------------------------------------------------------

inline double ref_new_eltwise(const sq_layer &l, double v, double slope) {
  double a = l.alpha, b = l.beta;
  switch (l.kind) {
  case SQ_RELU6:
  case SQ_HARDTANH: return std::min(std::max(v, a), b);
  case SQ_PRELU: return v > 0 ? v : slope * v;
  case SQ_LOGSIGMOID: return -ref_softplus(-v);
  case SQ_CELU: return std::max(0.0, v) + std::min(0.0, a * std::expm1(v / a));
  case SQ_SELU: return b * (v > 0 ? v : a * std::expm1(v));
  case SQ_GELU: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
  case SQ_GELU_TANH:
    return 0.5 * v *
           (1.0 +
            std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
  case SQ_SILU: return v * ref_sigmoid(v);
  case SQ_MISH: return v * std::tanh(ref_softplus(v));
  case SQ_HARDSIGMOID: return std::max(0.0, std::min(1.0, a * v + b));
  case SQ_HARDSWISH: return v * std::max(0.0, std::min(6.0, v + 3.0)) / 6.0;
  case SQ_SOFTPLUS: return ref_softplus(a * v) / a;
  case SQ_SOFTSIGN: return v / (1.0 + std::fabs(v));
  case SQ_TANHSHRINK: return v - std::tanh(v);
  case SQ_SOFTSHRINK: return v > a ? v - a : v < -a ? v + a : 0.0;
  case SQ_HARDSHRINK: return std::fabs(v) > a ? v : 0.0;
  case SQ_THRESHOLD: return v > a ? v : b;
  case SQ_AFFINE: return a * v + b;
  case SQ_POW: return a * std::pow(v, b);
  case SQ_ABS: return std::fabs(v);
  case SQ_SQRT: return std::sqrt(v);
  case SQ_EXP: return std::exp(v);
  case SQ_LOG: return std::log(v);
  default: return ref_eltwise_value(l, v);
  }
}

inline void ref_any_eltwise(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t c = x.dims.size() > 1 ? x.dims[1] : 1;
  int64_t inner = count_of(x.dims) / x.dims[0] / c;
  for (size_t i = 0; i < x.data.size(); i++) {
    double slope = 0.0;
    if (l.kind == SQ_PRELU)
      slope = l.weight.data[l.weight.count == 1 ? 0 : ((int64_t)i / inner) % c];
    y->data[i] = (float)ref_new_eltwise(l, x.data[i], slope);
  }
}

// ---- conv transpose and LP pooling ----------------------------------------

// y[n, g*O/g + o, i*s - p + k*d] += x[n, c, i] * W[c, o, k].
inline void ref_conv_transpose(const sq_layer &l, const Tensor &x, Tensor *y) {
  Spatial3 s = spatial3(l, x.dims, y->dims);
  int64_t n_batch = x.dims[0], c_in = x.dims[1], c_out = y->dims[1];
  int64_t g = l.groups, cig = c_in / g, cog = c_out / g;
  int64_t out_sp = s.out[0] * s.out[1] * s.out[2];
  int64_t ksz = s.k[0] * s.k[1] * s.k[2];
  std::vector<double> acc(y->data.size());
  for (int64_t n = 0; n < n_batch; n++)
    for (int64_t oc = 0; oc < c_out; oc++)
      for (int64_t j = 0; j < out_sp; j++)
        acc[(size_t)((n * c_out + oc) * out_sp + j)] =
            l.bias.data ? l.bias.data[oc] : 0.0;
  size_t xi = 0;
  for (int64_t n = 0; n < n_batch; n++)
    for (int64_t ic = 0; ic < c_in; ic++)
      for (int64_t id = 0; id < s.in[0]; id++)
        for (int64_t ih = 0; ih < s.in[1]; ih++)
          for (int64_t iw = 0; iw < s.in[2]; iw++, xi++) {
            double xv = x.data[xi];
            int64_t grp = ic / cig;
            for (int64_t o = 0; o < cog; o++)
              for (int64_t kd = 0; kd < s.k[0]; kd++)
                for (int64_t kh = 0; kh < s.k[1]; kh++)
                  for (int64_t kw = 0; kw < s.k[2]; kw++) {
                    int64_t od = id * s.s[0] - s.p[0] + kd * s.d[0];
                    int64_t oh = ih * s.s[1] - s.p[1] + kh * s.d[1];
                    int64_t ow = iw * s.s[2] - s.p[2] + kw * s.d[2];
                    if (od < 0 || od >= s.out[0] || oh < 0 || oh >= s.out[1] ||
                        ow < 0 || ow >= s.out[2])
                      continue;
                    double wv = l.weight.data[(ic * cog + o) * ksz +
                                              (kd * s.k[1] + kh) * s.k[2] + kw];
                    int64_t oc = grp * cog + o;
                    acc[(size_t)((n * c_out + oc) * out_sp +
                                 (od * s.out[1] + oh) * s.out[2] + ow)] +=
                        xv * wv;
                  }
          }
  for (size_t i = 0; i < acc.size(); i++) y->data[i] = (float)acc[i];
}

// PyTorch LPPool: (sum of x^p over the window)^(1/p), NaN for a negative
// sum and fractional 1/p; ONNX (lp_abs): (sum of |x|^p)^(1/p). Padding adds
// nothing; a window over uncounted padding scales its sum by kernel cells /
// counted cells (torch's avg_pool(x^p) * kernel size).
inline void ref_lppool(const sq_layer &l, const Tensor &x, Tensor *y) {
  Spatial3 s = spatial3(l, x.dims, y->dims);
  int64_t planes = x.dims[0] * x.dims[1];
  int64_t in_sp = s.in[0] * s.in[1] * s.in[2];
  double p = l.alpha;
  size_t yi = 0;
  for (int64_t pl = 0; pl < planes; pl++)
    for (int64_t od = 0; od < s.out[0]; od++)
      for (int64_t oh = 0; oh < s.out[1]; oh++)
        for (int64_t ow = 0; ow < s.out[2]; ow++, yi++) {
          double sum = 0.0;
          for (int64_t kd = 0; kd < s.k[0]; kd++)
            for (int64_t kh = 0; kh < s.k[1]; kh++)
              for (int64_t kw = 0; kw < s.k[2]; kw++) {
                int64_t id = od * s.s[0] - s.p[0] + kd * s.d[0];
                int64_t ih = oh * s.s[1] - s.p[1] + kh * s.d[1];
                int64_t iw = ow * s.s[2] - s.p[2] + kw * s.d[2];
                if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1] ||
                    iw < 0 || iw >= s.in[2])
                  continue;
                double v = x.data[(size_t)(pl * in_sp +
                                           (id * s.in[1] + ih) * s.in[2] + iw)];
                sum += std::pow(l.lp_abs ? std::fabs(v) : v, p);
              }
          sum *= (double)(s.k[0] * s.k[1] * s.k[2]) /
                 (double)counted_cells(s, od, oh, ow);
          y->data[yi] = (float)std::pow(sum, 1.0 / p);
        }
}

// ---- normalisations --------------------------------------------------------

// InstanceNorm (groups = C) and GroupNorm: statistics per (n, group).
inline void ref_group_norm(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t n_batch = x.dims[0], c = x.dims[1];
  int64_t sp = count_of(x.dims) / n_batch / c;
  int64_t groups = l.kind == SQ_GROUPNORM ? l.groups : c, cg = c / groups;
  for (int64_t n = 0; n < n_batch; n++)
    for (int64_t g = 0; g < groups; g++) {
      size_t base = (size_t)((n * c + g * cg) * sp), len = (size_t)(cg * sp);
      double mean = 0.0, var = 0.0;
      for (size_t i = 0; i < len; i++) mean += x.data[base + i];
      mean /= (double)len;
      for (size_t i = 0; i < len; i++)
        var += (x.data[base + i] - mean) * (x.data[base + i] - mean);
      var /= (double)len;
      for (size_t i = 0; i < len; i++) {
        int64_t ch = g * cg + (int64_t)i / sp;
        double v = (x.data[base + i] - mean) / std::sqrt(var + l.epsilon);
        if (l.weight.data) v *= l.weight.data[ch];
        if (l.bias.data) v += l.bias.data[ch];
        y->data[base + i] = (float)v;
      }
    }
}

inline void ref_layer_norm(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t inner = 1;
  for (size_t i = (size_t)l.axis; i < x.dims.size(); i++) inner *= x.dims[i];
  int64_t rows = count_of(x.dims) / inner;
  for (int64_t r = 0; r < rows; r++) {
    const float *in = &x.data[(size_t)(r * inner)];
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < inner; i++) mean += in[i];
    mean /= (double)inner;
    for (int64_t i = 0; i < inner; i++) var += (in[i] - mean) * (in[i] - mean);
    var /= (double)inner;
    for (int64_t i = 0; i < inner; i++) {
      double v = (in[i] - mean) / std::sqrt(var + l.epsilon);
      if (l.weight.data) v *= l.weight.data[i];
      if (l.bias.data) v += l.bias.data[i];
      y->data[(size_t)(r * inner + i)] = (float)v;
    }
  }
}

// torch.nn.LocalResponseNorm: the channel window is [c - size/2,
// c + (size-1)/2], zero outside, averaged over `size`.
inline void ref_lrn(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t n_batch = x.dims[0], c = x.dims[1];
  int64_t sp = count_of(x.dims) / n_batch / c, size = l.kernel[0];
  for (int64_t n = 0; n < n_batch; n++)
    for (int64_t ch = 0; ch < c; ch++)
      for (int64_t s = 0; s < sp; s++) {
        double sum = 0.0;
        for (int64_t j = ch - size / 2; j <= ch + (size - 1) / 2; j++) {
          if (j < 0 || j >= c) continue;
          double v = x.data[(size_t)((n * c + j) * sp + s)];
          sum += v * v;
        }
        size_t at = (size_t)((n * c + ch) * sp + s);
        y->data[at] =
            (float)(x.data[at] /
                    std::pow(l.epsilon + l.alpha * sum / (double)size, l.beta));
      }
}

// ---- gate, pad, resize, shuffles, embedding --------------------------------

inline void ref_glu(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t outer = 1, inner = 1, len = x.dims[(size_t)l.axis];
  for (int i = 0; i < (int)x.dims.size(); i++) {
    if (i < l.axis) outer *= x.dims[(size_t)i];
    if (i > l.axis) inner *= x.dims[(size_t)i];
  }
  int64_t half = len / 2;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < half; j++)
      for (int64_t i = 0; i < inner; i++) {
        double a = x.data[(size_t)((o * len + j) * inner + i)];
        double b = x.data[(size_t)((o * len + j + half) * inner + i)];
        y->data[(size_t)((o * half + j) * inner + i)] =
            (float)(a * ref_sigmoid(b));
      }
}

// Where index i (o - pad_begin) reads along a dim of n; -1: the value.
// Circular: the begin padding copies elements from, from + 1, ... (wrapping);
// the end padding 0, 1, ...
inline int64_t ref_pad_source(sq_pad_mode mode, int64_t i, int64_t n,
                              int64_t begin, int64_t from) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
  case SQ_PAD_REPLICATE: return i < 0 ? 0 : n - 1;
  case SQ_PAD_CIRCULAR: {
    int64_t at = i < 0 ? from + (i + begin) : i - n;
    return ((at % n) + n) % n;
  }
  case SQ_PAD_REFLECT:
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  default: return -1;
  }
}

inline void ref_pad(const sq_layer &l, const Tensor &x, Tensor *y) {
  for (size_t k = 0; k < y->data.size(); k++) {
    Dims idx = unravel((int64_t)k, y->dims);
    bool inside = true;
    for (size_t d = 2; d < idx.size(); d++) {
      idx[d] =
          ref_pad_source(l.pad_mode, idx[d] - l.pad_begin[d - 2], x.dims[d],
                         l.pad_begin[d - 2], l.circular_from[d - 2]);
      inside = inside && idx[d] >= 0;
    }
    y->data[k] = inside ? x.data[(size_t)ravel(idx, x.dims)] : l.pad_value;
  }
}

// A CONV with pre-padding (chain.h): the padding as a PAD layer would do
// it, then the convolution; false for a CONV without.
inline bool ref_prepadded_conv(const sq_layer &l, const Tensor &x, Tensor *y) {
  sq_layer pad = l;
  bool any = false;
  Tensor padded;
  padded.dims = x.dims;
  for (int i = 0; i < SQ_MAX_SPATIAL; i++) {
    pad.pad_begin[i] = l.prepad_begin[i];
    pad.pad_end[i] = l.prepad_end[i];
    any = any || l.prepad_begin[i] || l.prepad_end[i];
    if (2 + (size_t)i < x.dims.size())
      padded.dims[2 + (size_t)i] += l.prepad_begin[i] + l.prepad_end[i];
  }
  if (!any) return false;
  padded.data.assign((size_t)count_of(padded.dims), 0.0f);
  ref_pad(pad, x, &padded);
  ref_conv(l, padded, y);
  return true;
}

// ONNX Resize: the source coordinate of output o along spatial dim d.
inline double ref_resize_coord(const sq_layer &l, int d, int64_t o, int64_t in,
                               int64_t out) {
  double scale = l.scales[d] > 0 ? l.scales[d] : (double)out / (double)in;
  switch (l.resize_coord) {
  case SQ_COORD_HALF_PIXEL: return (o + 0.5) / scale - 0.5;
  case SQ_COORD_PYTORCH_HALF_PIXEL:
    return out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  case SQ_COORD_ALIGN_CORNERS:
    return out == 1 ? 0.0 : o * (double)(in - 1) / (double)(out - 1);
  case SQ_COORD_ASYMMETRIC: return o / scale;
  }
  return 0.0;
}

inline int64_t ref_nearest(sq_resize_nearest mode, double v, int64_t in) {
  double f = std::floor(v);
  int64_t i = 0;
  switch (mode) {
  case SQ_NEAREST_ROUND_PREFER_FLOOR:
    i = (int64_t)(v == f + 0.5 ? f : std::round(v));
    break;
  case SQ_NEAREST_ROUND_PREFER_CEIL:
    i = (int64_t)(v == f + 0.5 ? f + 1 : std::round(v));
    break;
  case SQ_NEAREST_FLOOR: i = (int64_t)f; break;
  case SQ_NEAREST_CEIL: i = (int64_t)std::ceil(v); break;
  }
  return std::min(std::max(i, (int64_t)0), in - 1);
}

inline void ref_resize(const sq_layer &l, const Tensor &x, Tensor *y) {
  int sp = (int)x.dims.size() - 2;
  for (size_t k = 0; k < y->data.size(); k++) {
    Dims idx = unravel((int64_t)k, y->dims);
    std::vector<int64_t> lo((size_t)sp), hi((size_t)sp);
    std::vector<double> w((size_t)sp);
    for (int d = 0; d < sp; d++) {
      int64_t in = x.dims[(size_t)d + 2], out = y->dims[(size_t)d + 2];
      double v = ref_resize_coord(l, d, idx[(size_t)d + 2], in, out);
      if (l.resize_mode == SQ_RESIZE_NEAREST) {
        lo[(size_t)d] = hi[(size_t)d] = ref_nearest(l.resize_nearest, v, in);
        w[(size_t)d] = 0.0;
      } else {
        v = std::min(std::max(v, 0.0), (double)(in - 1));
        lo[(size_t)d] = (int64_t)std::floor(v);
        hi[(size_t)d] = std::min(lo[(size_t)d] + 1, in - 1);
        w[(size_t)d] = v - (double)lo[(size_t)d];
      }
    }
    double acc = 0.0;
    for (int corner = 0; corner < (1 << sp); corner++) {
      double weight = 1.0;
      Dims src = idx;
      for (int d = 0; d < sp; d++) {
        bool upper = (corner >> d) & 1;
        weight *= upper ? w[(size_t)d] : 1.0 - w[(size_t)d];
        src[(size_t)d + 2] = upper ? hi[(size_t)d] : lo[(size_t)d];
      }
      if (weight != 0.0) acc += weight * x.data[(size_t)ravel(src, x.dims)];
    }
    y->data[k] = (float)acc;
  }
}

inline void ref_shuffle(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t r = l.block;
  for (size_t k = 0; k < y->data.size(); k++) {
    Dims o = unravel((int64_t)k, y->dims), i = o;
    size_t rank = o.size();
    if (l.kind == SQ_PIXELSHUFFLE) {
      // y[.., c, h*r + a, w*r + b] = x[.., c*r*r + a*r + b, h, w]
      i[rank - 3] =
          o[rank - 3] * r * r + (o[rank - 2] % r) * r + o[rank - 1] % r;
      i[rank - 2] = o[rank - 2] / r;
      i[rank - 1] = o[rank - 1] / r;
    } else if (l.kind == SQ_PIXELUNSHUFFLE) {
      int64_t c = o[rank - 3] / (r * r), a = o[rank - 3] / r % r;
      int64_t b = o[rank - 3] % r;
      i[rank - 3] = c;
      i[rank - 2] = o[rank - 2] * r + a;
      i[rank - 1] = o[rank - 1] * r + b;
    } else { // channel shuffle: y[n, k*g + j] = x[n, j*(C/g) + k]
      int64_t per = x.dims[1] / r;
      i[1] = (o[1] % r) * per + o[1] / r;
    }
    y->data[k] = x.data[(size_t)ravel(i, x.dims)];
  }
}

// TRANSPOSE: y[o] = x[i] with i[perm[k]] = o[k].
inline void ref_transpose(const sq_layer &l, const Tensor &x, Tensor *y) {
  for (size_t k = 0; k < y->data.size(); k++) {
    Dims o = unravel((int64_t)k, y->dims), i = o;
    for (size_t d = 0; d < o.size(); d++) i[(size_t)l.perm[d]] = o[d];
    y->data[k] = x.data[(size_t)ravel(i, x.dims)];
  }
}

// SLICE: y[o] = x[i], i[d] = slice_start[d] + j_d * slice_step[d] where
// j runs over the slice lengths (a dropped dim has length 1).
inline void ref_slice(const sq_layer &l, const Tensor &x, Tensor *y) {
  Dims lens = x.dims;
  for (size_t d = 1; d < lens.size(); d++) lens[d] = l.slice_len[d];
  for (size_t k = 0; k < y->data.size(); k++) {
    Dims i = unravel((int64_t)k, lens);
    for (size_t d = 0; d < i.size(); d++)
      i[d] = l.slice_start[d] + i[d] * l.slice_step[d];
    y->data[k] = x.data[(size_t)ravel(i, x.dims)];
  }
}

// The indices arrive as floats in x (exact for small integers).
inline void ref_embedding(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t dim = y->dims.back();
  for (size_t i = 0; i < x.data.size(); i++)
    for (int64_t j = 0; j < dim; j++)
      y->data[i * (size_t)dim + (size_t)j] =
          l.weight.data[(int64_t)x.data[i] * dim + j];
}

// REDUCE family: y (any rank: keepdims or not, the same order) from the
// reduced dims of x, accumulated in double.
inline void ref_reduce(const sq_layer &l, const Tensor &x, Tensor *y) {
  Dims kept = x.dims;
  for (size_t d = 0; d < kept.size(); d++)
    if (l.reduced[d]) kept[d] = 1;
  double init = l.kind == SQ_REDUCEPROD  ? 1.0
                : l.kind == SQ_REDUCEMAX ? -INFINITY
                : l.kind == SQ_REDUCEMIN ? INFINITY
                                         : 0.0;
  std::vector<double> acc(y->data.size(), init);
  for (size_t k = 0; k < x.data.size(); k++) {
    Dims idx = unravel((int64_t)k, x.dims);
    for (size_t d = 0; d < idx.size(); d++)
      if (l.reduced[d]) idx[d] = 0;
    double v = x.data[k], &a = acc[(size_t)ravel(idx, kept)];
    switch (l.kind) {
    case SQ_REDUCEMAX: a = std::max(a, v); break;
    case SQ_REDUCEMIN: a = std::min(a, v); break;
    case SQ_REDUCEPROD: a *= v; break;
    case SQ_REDUCEL1: a += std::fabs(v); break;
    case SQ_REDUCEL2:
    case SQ_REDUCESUMSQUARE: a += v * v; break;
    default: a += v; break;
    }
  }
  double count = (double)x.data.size() / (double)y->data.size();
  for (size_t k = 0; k < acc.size(); k++)
    y->data[k] = (float)(l.kind == SQ_REDUCEMEAN ? acc[k] / count
                         : l.kind == SQ_REDUCEL2 ? std::sqrt(acc[k])
                                                 : acc[k]);
}

// NORMALIZE: x / max(||x||_p, epsilon) over the reduced dims.
inline void ref_normalize(const sq_layer &l, const Tensor &x, Tensor *y) {
  Dims kept = x.dims;
  for (size_t d = 0; d < kept.size(); d++)
    if (l.reduced[d]) kept[d] = 1;
  std::vector<double> norm((size_t)count_of(kept), 0.0);
  std::vector<size_t> at(x.data.size());
  for (size_t k = 0; k < x.data.size(); k++) {
    Dims idx = unravel((int64_t)k, x.dims);
    for (size_t d = 0; d < idx.size(); d++)
      if (l.reduced[d]) idx[d] = 0;
    at[k] = (size_t)ravel(idx, kept);
    double v = std::fabs(x.data[k]);
    norm[at[k]] += l.alpha == 1.0f ? v : v * v;
  }
  for (double &n : norm)
    n = std::max(l.alpha == 1.0f ? n : std::sqrt(n), (double)l.epsilon);
  for (size_t k = 0; k < x.data.size(); k++)
    y->data[k] = (float)(x.data[k] / norm[at[k]]);
}

// BINARY family: x + w or x * w, w broadcast over its dims of 1.
inline void ref_binary(const sq_layer &l, const Tensor &x, Tensor *y) {
  Dims wd(l.weight.shape.dims, l.weight.shape.dims + l.weight.shape.rank);
  for (size_t k = 0; k < x.data.size(); k++) {
    Dims idx = unravel((int64_t)k, x.dims);
    for (size_t d = 0; d < idx.size(); d++)
      if (wd[d] == 1) idx[d] = 0;
    double w = l.weight.data[ravel(idx, wd)];
    y->data[k] = (float)(l.kind == SQ_ADDCONST ? x.data[k] + w : x.data[k] * w);
  }
}

// The reference of the kinds above; false for the first families' kinds.
inline bool ref_other_kind(const sq_layer &l, const Tensor &x, Tensor *y) {
  switch (l.kind) {
  case SQ_CONVTRANSPOSE: ref_conv_transpose(l, x, y); return true;
  case SQ_CONV: return ref_prepadded_conv(l, x, y);
  case SQ_LPPOOL: ref_lppool(l, x, y); return true;
  case SQ_INSTANCENORM:
  case SQ_GROUPNORM: ref_group_norm(l, x, y); return true;
  case SQ_LAYERNORM: ref_layer_norm(l, x, y); return true;
  case SQ_LRN: ref_lrn(l, x, y); return true;
  case SQ_SOFTMIN: {
    Tensor negated = x;
    for (float &v : negated.data) v = -v;
    ref_softmax(l, negated, y);
    return true;
  }
  case SQ_GLU: ref_glu(l, x, y); return true;
  case SQ_PAD: ref_pad(l, x, y); return true;
  case SQ_UPSAMPLE: ref_resize(l, x, y); return true;
  case SQ_PIXELSHUFFLE:
  case SQ_PIXELUNSHUFFLE:
  case SQ_CHANNELSHUFFLE: ref_shuffle(l, x, y); return true;
  case SQ_TRANSPOSE: ref_transpose(l, x, y); return true;
  case SQ_SLICE: ref_slice(l, x, y); return true;
  case SQ_EMBEDDING: ref_embedding(l, x, y); return true;
  default: break;
  }
  if (sq_kind_family(l.kind) == SQ_FAMILY_BINARY) {
    ref_binary(l, x, y);
    return true;
  }
  if (l.kind == SQ_NORMALIZE) {
    ref_normalize(l, x, y);
    return true;
  }
  if (sq_kind_family(l.kind) == SQ_FAMILY_REDUCE) {
    ref_reduce(l, x, y);
    return true;
  }
  if (sq_kind_family(l.kind) != SQ_FAMILY_ELTWISE) return false;
  ref_any_eltwise(l, x, y);
  return true;
}

#endif
