// Bit-packed binary convolution on the CPU: XOR + popcount on 64-bit words.
//
// Written by hand because no maintained package does this for PyTorch on x86 and ARM (Larq
// Compute Engine and daBNN run TFLite / their own model formats on ARM only).
//
// Depth-wise convs (one input channel per group) run on int8 planes instead (see there).
//
// Layout ("word planes"): the input of one conv is packed once into zero-padded, phase-split
// planes of 64-bit words, shape (N, G * WG, SH, SW, KS, HQ, WQ): word w of group g (channels
// g * cin_g + 64 w ... + 63, bit b = channel 64 w + b, LSB first), stride phase (py, px), shifted
// copy j (see Geo) and position (r / SH, q / SW) of padded pixel (r, q). A stride-s conv then
// reads, for tap (ky, kx), plane (ky % SH, kx % SW) at row oy + ky / SH and columns
// ox + kx / SW: consecutive output pixels read consecutive words, so the inner loop vectorises
// over OUTPUT PIXELS (8 per AVX-512 register), with one weight word broadcast per output
// channel, and the output is stored straight into NCHW rows.
//
// Exactness: each tap contributes cin_g - 2 popcount(a XOR w) (padding channel bits are 0 in both
// operands). Padded taps read zero words and contribute cin_g - 2 popcount(w) instead of 0; that
// per-(channel, tap) constant is subtracted for the border pixels ("tap_zero"), so the result
// equals F.conv2d(sign(x), sign(w)) with zero padding exactly. The float epilogue runs in the
// order of the torch reference, count * scale * sample_scale + bias + residual, in fp32, and is
// compiled with -ffp-contract=off so it is bit-identical to it.
//
// Popcount: AVX-512 VPOPCNTQ; AVX2 by the nibble-table method (vpshufb + vpsadbw); NEON vcnt;
// a portable scalar fallback. Every variant compiled in can be chosen at run time (tests check
// each against the reference).

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace {

using u64 = uint64_t;
using i64 = int64_t;

constexpr int kMaxLanes = 8;
constexpr int kMaxPV = 4;     // pixel vectors per tile
constexpr i64 kSlack = 72;    // spare words after the planes (bytes for byte planes: a depth-wise
                              // conv reads whole 64-byte blocks, up to 63 bytes past its last output)

enum Simd : int { SCALAR = 0, AVX2 = 1, AVX512 = 2, NEON = 3 };

struct ScalarOps {
  static constexpr int L = 1;
  using V = u64;
  static inline V zero() { return 0; }
  static inline V load(const u64* p) { return *p; }
  static inline V bcast(u64 x) { return x; }
  static inline V acc(V a, V x, V w) { return a + static_cast<u64>(__builtin_popcountll(x ^ w)); }
  static inline void store(u64* p, V v) { *p = v; }
};

#if defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
#define BNN_HAVE_AVX512 1
struct Avx512Ops {
  static constexpr int L = 8;
  using V = __m512i;
  static inline V zero() { return _mm512_setzero_si512(); }
  static inline V load(const u64* p) { return _mm512_loadu_si512(static_cast<const void*>(p)); }
  static inline V bcast(u64 x) { return _mm512_set1_epi64(static_cast<long long>(x)); }
  static inline V acc(V a, V x, V w) {
    return _mm512_add_epi64(a, _mm512_popcnt_epi64(_mm512_xor_si512(x, w)));
  }
  static inline void store(u64* p, V v) { _mm512_storeu_si512(static_cast<void*>(p), v); }
};
#endif

#if defined(__AVX2__)
#define BNN_HAVE_AVX2 1
struct Avx2Ops {
  static constexpr int L = 4;
  using V = __m256i;
  static inline V zero() { return _mm256_setzero_si256(); }
  static inline V load(const u64* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static inline V bcast(u64 x) { return _mm256_set1_epi64x(static_cast<long long>(x)); }
  // Nibble-table popcount (Mula et al.): per-byte counts by vpshufb, summed per 64-bit lane.
  static inline V popcnt(V v) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(v, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    const __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
    return _mm256_sad_epu8(cnt, _mm256_setzero_si256());
  }
  static inline V acc(V a, V x, V w) { return _mm256_add_epi64(a, popcnt(_mm256_xor_si256(x, w))); }
  static inline void store(u64* p, V v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
};
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#define BNN_HAVE_NEON 1
struct NeonOps {
  static constexpr int L = 2;
  using V = uint64x2_t;
  static inline V zero() { return vdupq_n_u64(0); }
  static inline V load(const u64* p) { return vld1q_u64(p); }
  static inline V bcast(u64 x) { return vdupq_n_u64(x); }
  static inline V acc(V a, V x, V w) {
    const uint8x16_t c = vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x, w)));
    return vaddq_u64(a, vpaddlq_u32(vpaddlq_u16(vpaddlq_u8(c))));
  }
  static inline void store(u64* p, V v) { vst1q_u64(p, v); }
};
#endif

// Depth-wise convs (one input channel per group, at most 127 taps) run on int8 planes.
inline bool byte_planes(i64 cin_g, i64 taps) { return cin_g == 1 && taps <= 127; }

// Geometry of one conv on word planes. Each (stride phase) plane is stored KS = ceil(KW / SW)
// times, copy j shifted left by j words, so that every tap's vector load is aligned (WQ and the
// plane size are multiples of kMaxLanes words): unaligned 64-byte loads split cache lines.
struct Geo {
  i64 N, G, WG, cin_g, cout, cout_g, H, W, KH, KW, SH, SW, PH, PW, HO, WO, HQ, WQ, KS;

  i64 plane_size() const { return HQ * WQ; }
  i64 words_per_sample() const { return G * WG * SH * SW * KS * plane_size(); }
  // + slack: the depth-wise loop reads up to KH rows past its last plane
  i64 total_words() const { return N * words_per_sample() + (KH + 1) * WQ + kSlack; }
  // First word of copy j of plane (n, gw, py, px).
  i64 plane(i64 n, i64 gw, i64 py, i64 px, i64 j = 0) const {
    return ((((n * G * WG + gw) * SH + py) * SW + px) * KS + j) * plane_size();
  }
  // Word offset of padded pixel (r, q) within copy 0 of the planes of (n, gw) is
  // plane(n, gw, 0, 0) + row_offset(r) + col_offset(q); row_offsets() and col_offsets() tabulate
  // them per input row / column, so that no division is left in the loops.
  i64 row_offset(i64 r) const { return plane(0, 0, r % SH, 0) + (r / SH) * WQ; }
  i64 col_offset(i64 q) const { return (q % SW) * KS * plane_size() + q / SW; }
  // row_offset of the input rows 0 .. H - 1 (padded row y + PH)
  std::vector<i64> row_offsets() const {
    std::vector<i64> off(H);
    for (i64 y = 0; y < H; ++y) off[y] = row_offset(y + PH);
    return off;
  }
  // col_offset of the input columns 0 .. W - 1 (padded column q + PW)
  std::vector<i64> col_offsets() const {
    std::vector<i64> off(W);
    for (i64 q = 0; q < W; ++q) off[q] = col_offset(q + PW);
    return off;
  }
};

Geo make_geo(i64 N, i64 C, i64 H, i64 W, i64 G, i64 cout, i64 KH, i64 KW, i64 SH, i64 SW, i64 PH,
             i64 PW) {
  Geo g{};
  g.N = N;
  g.G = G;
  g.cin_g = C / G;
  g.WG = (g.cin_g + 63) / 64;
  g.cout = cout;
  g.cout_g = cout / G;
  g.H = H;
  g.W = W;
  g.KH = KH;
  g.KW = KW;
  g.SH = SH;
  g.SW = SW;
  g.PH = PH;
  g.PW = PW;
  g.HO = (H + 2 * PH - KH) / SH + 1;
  g.WO = (W + 2 * PW - KW) / SW + 1;
  g.HQ = (H + 2 * PH + SH - 1) / SH;
  g.WQ = ((W + 2 * PW + SW - 1) / SW + kMaxLanes - 1) / kMaxLanes * kMaxLanes;
  g.KS = (KW + SW - 1) / SW;
  if (byte_planes(g.cin_g, KH * KW)) g.KS = 1;  // depth-wise: byte planes, loads need no alignment
  return g;
}

// Fill copies j >= 1 of every plane from copy 0 (copy j word p = copy 0 word p + j).
void shifted_copies(const Geo& g, u64* out) {
  if (g.KS == 1) return;
  const i64 planes = g.N * g.G * g.WG * g.SH * g.SW;
  const i64 size = g.plane_size();
  at::parallel_for(0, planes, 1, [&](i64 begin, i64 end) {
    for (i64 p = begin; p < end; ++p) {
      const u64* src = out + p * g.KS * size;
      for (i64 j = 1; j < g.KS; ++j) {
        u64* dst = out + (p * g.KS + j) * size;
        std::copy(src + j, src + size, dst);  // the last j words stay 0
      }
    }
  });
}

// Offset of tap (ky, kx) from the planes of (n, group word 0) at output (0, 0): its stride
// phase, its row shift and its column shift (word planes: the shifted copy; byte planes, which
// have one copy, a column offset).
std::vector<i64> tap_offsets(const Geo& g) {
  std::vector<i64> off(g.KH * g.KW);
  for (i64 ky = 0; ky < g.KH; ++ky)
    for (i64 kx = 0; kx < g.KW; ++kx) {
      const i64 shift = kx / g.SW;
      off[ky * g.KW + kx] = g.plane(0, 0, ky % g.SH, kx % g.SW, g.KS > 1 ? shift : 0) +
                            (ky / g.SH) * g.WQ + (g.KS > 1 ? 0 : shift);
    }
  return off;
}

// ---- packing ---------------------------------------------------------------------------------

// Transpose an 8x8 bit matrix held in a u64 (byte i = row i, bit j = column j); Hacker's Delight
// 7-3 (delta swaps).
inline u64 transpose8x8(u64 x) {
  u64 t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
  x = x ^ t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
  x = x ^ t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
  return x ^ t ^ (t << 28);
}

// Bit b of word[p] = (sp[b * cstride + p] >= th[b]) for 8 consecutive pixels p and nb <= 64
// channels b (NaN -> 0).
template <int SIMD>
inline void pack_block8(const float* sp, i64 cstride, i64 nb, const float* th, u64* word) {
#if defined(BNN_HAVE_AVX512) && defined(__AVX512VL__)
  if constexpr (SIMD == AVX512) {
  __m512i acc = _mm512_setzero_si512();
  for (i64 b = 0; b < nb; ++b) {
    const __mmask8 k = _mm256_cmp_ps_mask(_mm256_loadu_ps(sp + b * cstride), _mm256_set1_ps(th[b]), _CMP_GE_OQ);
    acc = _mm512_mask_or_epi64(acc, k, acc, _mm512_set1_epi64(static_cast<long long>(u64(1) << b)));
  }
  _mm512_storeu_si512(static_cast<void*>(word), acc);
  return;
  }
#endif
  // 8-bit pixel masks of 8 channels form an 8x8 bit matrix; its transpose gives each pixel's byte
  for (i64 b0 = 0; b0 < nb; b0 += 8) {
    u64 rows = 0;
    for (i64 b = b0; b < std::min<i64>(b0 + 8, nb); ++b) {
      const float* v = sp + b * cstride;
      u64 mask = 0;
#if defined(BNN_HAVE_AVX2)
      if constexpr (SIMD == AVX2 || SIMD == AVX512) {
        mask = static_cast<u64>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v), _mm256_set1_ps(th[b]), _CMP_GE_OQ)));
      } else
#endif
      {
        for (int p = 0; p < 8; ++p) mask |= static_cast<u64>(v[p] >= th[b]) << p;
      }
      rows |= mask << (8 * (b - b0));
    }
    const u64 cols = transpose8x8(rows);
    for (int p = 0; p < 8; ++p) word[p] |= ((cols >> (8 * p)) & 0xffULL) << b0;
  }
}

// Float NCHW -> word planes, bit = x >= threshold (NaN -> 0), planes pre-zeroed.
template <int SIMD>
void pack_float(const float* x, const float* thr, bool thr_per_sample, const Geo& g, u64* out) {
  const i64 C = g.G * g.cin_g;
  const i64 tasks = g.N * g.G * g.WG;
  const std::vector<i64> cols = g.col_offsets(), rows = g.row_offsets();
  at::parallel_for(0, tasks, 1, [&](i64 begin, i64 end) {
    for (i64 t = begin; t < end; ++t) {
      const i64 n = t / (g.G * g.WG), gw = t % (g.G * g.WG);
      const i64 grp = gw / g.WG, w = gw % g.WG;
      const i64 c0 = grp * g.cin_g + 64 * w;
      const i64 nb = std::min<i64>(64, g.cin_g - 64 * w);
      float th[64];
      for (i64 b = 0; b < nb; ++b)
        th[b] = thr == nullptr ? 0.0f : thr[thr_per_sample ? n * C + c0 + b : c0 + b];
      const float* src0 = x + (n * C + c0) * g.H * g.W;
      const i64 cstride = g.H * g.W;
      u64* planes = out + g.plane(n, gw, 0, 0);
      for (i64 y = 0; y < g.H; ++y) {
        // blocks of 8 pixels: the 64 channel bits of each pixel gather in registers
        for (i64 q0 = 0; q0 < g.W; q0 += 8) {
          const i64 m = std::min<i64>(8, g.W - q0);
          alignas(64) u64 word[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          const float* sp = src0 + y * g.W + q0;
          if (m == 8) {
            pack_block8<SIMD>(sp, cstride, nb, th, word);
          } else {
            for (i64 b = 0; b < nb; ++b) {
              const float* v = sp + b * cstride;
              for (i64 i = 0; i < m; ++i) word[i] |= static_cast<u64>(v[i] >= th[b]) << b;
            }
          }
          u64* row = planes + rows[y];
          for (i64 i = 0; i < m; ++i) row[cols[q0 + i]] = word[i];
        }
      }
    }
  });
}

// NHWC-packed int32 words (N, H, W, G * WG32), the public layout -> word planes.
void pack_nhwc(const int32_t* xp, i64 wg32, const Geo& g, u64* out) {
  const std::vector<i64> cols = g.col_offsets(), rows = g.row_offsets();
  at::parallel_for(0, g.N * g.H, 1, [&](i64 begin, i64 end) {
    for (i64 t = begin; t < end; ++t) {
      const i64 n = t / g.H, y = t % g.H;
      for (i64 q = 0; q < g.W; ++q) {
        const int32_t* px = xp + ((n * g.H + y) * g.W + q) * g.G * wg32;
        for (i64 grp = 0; grp < g.G; ++grp) {
          for (i64 w = 0; w < g.WG; ++w) {
            const i64 k = 2 * w;
            const u64 lo = static_cast<uint32_t>(px[grp * wg32 + k]);
            const u64 hi = k + 1 < wg32 ? static_cast<uint32_t>(px[grp * wg32 + k + 1]) : 0;
            out[g.plane(n, grp * g.WG + w, 0, 0) + rows[y] + cols[q]] = lo | (hi << 32);
          }
        }
      }
    }
  });
}

// ---- the conv --------------------------------------------------------------------------------

struct Epilogue {
  const float* scale = nullptr;
  const float* bias = nullptr;
  const float* sample_scale = nullptr;
  bool sample_scale_per_channel = false;
  const float* residual = nullptr;
  float* out = nullptr;
  int32_t* out_raw = nullptr;
};

// Raw popcount sums of a tile: CB output channels x PV vectors of S::L consecutive pixels of row oy.
// tap_off[t]: word offset of tap t = (ky, kx) from the planes of (n, word 0 of the group) at
// output (oy, x0) = (0, 0) (stride phase, row and column shift), precomputed once per conv.
template <class S, int CB, int PV>
inline void tile(const Geo& g, const i64* tap_off, const u64* planes, const u64* wts, i64 n,
                 i64 grp, i64 c0, i64 oy, i64 x0, u64* acc_out) {
  using V = typename S::V;
  V acc[CB][PV];
  for (int cb = 0; cb < CB; ++cb)
    for (int pv = 0; pv < PV; ++pv) acc[cb][pv] = S::zero();
  const i64 word_step = g.SH * g.SW * g.KS * g.plane_size();
  const i64 taps = g.KH * g.KW;
  const u64* base = planes + g.plane(n, grp * g.WG, 0, 0) + oy * g.WQ + x0;
  const u64* wbase = wts + c0 * taps * g.WG;
  for (i64 t = 0; t < taps; ++t) {
    const u64* a0 = base + tap_off[t];
    const u64* w0 = wbase + t * g.WG;
    for (i64 w = 0; w < g.WG; ++w) {
      V a[PV];
      for (int pv = 0; pv < PV; ++pv) a[pv] = S::load(a0 + w * word_step + pv * S::L);
      for (int cb = 0; cb < CB; ++cb) {
        const V wb = S::bcast(w0[cb * taps * g.WG + w]);
        for (int pv = 0; pv < PV; ++pv) acc[cb][pv] = S::acc(acc[cb][pv], a[pv], wb);
      }
    }
  }
  for (int cb = 0; cb < CB; ++cb)
    for (int pv = 0; pv < PV; ++pv) S::store(acc_out + (cb * PV + pv) * S::L, acc[cb][pv]);
}

// Sum of tap_zero over the taps of output (oy, ox) that fall into the zero padding.
inline i64 border_correction(const Geo& g, const int32_t* tap_zero_c, i64 oy, i64 ox) {
  i64 corr = 0;
  const i64 iy0 = oy * g.SH - g.PH, ix0 = ox * g.SW - g.PW;
  for (i64 ky = 0; ky < g.KH; ++ky) {
    const bool row_in = iy0 + ky >= 0 && iy0 + ky < g.H;
    for (i64 kx = 0; kx < g.KW; ++kx) {
      const bool col_in = ix0 + kx >= 0 && ix0 + kx < g.W;
      if (!(row_in && col_in)) corr += tap_zero_c[ky * g.KW + kx];
    }
  }
  return corr;
}

// The epilogue formula of the torch reference, its fp32 operations in its order (a missing scale
// is a multiplication by 1, a missing bias an addition of 0: exact, only the sign of a zero can
// differ).
inline float epilogue(int32_t count, float scale, float sample_scale, float bias) {
  return static_cast<float>(count) * scale * sample_scale + bias;
}

// Write output pixels x0 .. x0 + npix - 1 of row oy, channel c: count(i) through the epilogue
// (or raw). All pixels first, in one vectorisable pass (fixed length NL when the segment is
// that long); then the few whose taps reach into the zero padding again, with the padded taps'
// contributions subtracted.
template <int NL, bool Borders = true, class Count>
inline void emit_row(const Geo& g, const Epilogue& e, const int32_t* tap_zero_c, i64 n, i64 c,
                     i64 oy, i64 x0, i64 npix, Count count) {
  const i64 o = ((n * g.cout + c) * g.HO + oy) * g.WO + x0;
  const float sc = e.scale ? e.scale[c] : 1.0f;
  const float ss = e.sample_scale ? e.sample_scale[e.sample_scale_per_channel ? n * g.cout + c : n] : 1.0f;
  const float bi = e.bias ? e.bias[c] : 0.0f;
  int32_t* raw = e.out_raw ? e.out_raw + o : nullptr;
  float* out = e.out ? e.out + o : nullptr;
  const float* res = e.residual ? e.residual + o : nullptr;
  auto pass = [&](auto len) {  // len: a compile-time constant for whole segments (unrolled)
    if (raw) {
      for (i64 i = 0; i < len; ++i) raw[i] = count(i);
    } else if (res) {
      for (i64 i = 0; i < len; ++i) out[i] = epilogue(count(i), sc, ss, bi) + res[i];
    } else {
      for (i64 i = 0; i < len; ++i) out[i] = epilogue(count(i), sc, ss, bi);
    }
  };
  if constexpr (NL > 0) {
    if (npix == NL) pass(std::integral_constant<i64, NL>{});
    else pass(npix);
  } else {
    pass(npix);
  }
  if constexpr (!Borders) return;
  const bool row_border = oy * g.SH - g.PH < 0 || oy * g.SH - g.PH + g.KH > g.H;
  // interior columns: ox * SW >= PW and ox * SW - PW + KW <= W
  const i64 first_inner = (g.PW + g.SW - 1) / g.SW;
  const i64 last_inner = g.W - g.KW + g.PW >= 0 ? (g.W - g.KW + g.PW) / g.SW : -1;
  for (i64 i = 0; i < npix; ++i) {
    const i64 ox = x0 + i;
    if (!row_border && ox >= first_inner && ox <= last_inner) {
      i = last_inner - x0;  // skip the interior
      continue;
    }
    const int32_t cnt = count(i) - static_cast<int32_t>(border_correction(g, tap_zero_c, oy, ox));
    if (raw) raw[i] = cnt;
    else out[i] = epilogue(cnt, sc, ss, bi) + (res ? res[i] : 0.0f);
  }
}

template <class S, int CB, int PV>
void row_chunk(const Geo& g, const i64* tap_off, const u64* planes, const u64* wts,
               const int32_t* tap_zero, const Epilogue& e, i64 n, i64 grp, i64 c0, i64 oy, i64 x0) {
  constexpr int NL = PV * S::L;
  alignas(64) u64 acc[CB * NL];
  tile<S, CB, PV>(g, tap_off, planes, wts, n, grp, c0, oy, x0, acc);
  const i64 npix = std::min<i64>(NL, g.WO - x0);
  const i64 full = g.KH * g.KW * g.cin_g;
  for (int cb = 0; cb < CB; ++cb) {
    const u64* a = acc + cb * NL;
    emit_row<NL>(g, e, tap_zero + (c0 + cb) * g.KH * g.KW, n, c0 + cb, oy, x0, npix,
                 [&](i64 i) { return static_cast<int32_t>(full - 2 * static_cast<i64>(a[i])); });
  }
}

template <class S, int CB>
void conv_row(const Geo& g, const i64* tap_off, const u64* planes, const u64* wts,
              const int32_t* tap_zero, const Epilogue& e, i64 n, i64 grp, i64 c0, i64 oy) {
  const i64 nvec = (g.WO + S::L - 1) / S::L;
  for (i64 v = 0; v < nvec; v += kMaxPV) {
    const i64 x0 = v * S::L;
    switch (std::min<i64>(kMaxPV, nvec - v)) {
      case 4: row_chunk<S, CB, 4>(g, tap_off, planes, wts, tap_zero, e, n, grp, c0, oy, x0); break;
      case 3: row_chunk<S, CB, 3>(g, tap_off, planes, wts, tap_zero, e, n, grp, c0, oy, x0); break;
      case 2: row_chunk<S, CB, 2>(g, tap_off, planes, wts, tap_zero, e, n, grp, c0, oy, x0); break;
      default: row_chunk<S, CB, 1>(g, tap_off, planes, wts, tap_zero, e, n, grp, c0, oy, x0); break;
    }
  }
}

struct ChannelTile {
  i64 grp, c0, cb;
};

template <class S>
void conv_all(const Geo& g, const u64* planes, const u64* wts, const int32_t* tap_zero,
              const Epilogue& e) {
  // Output channels of each group in tiles of 4 (then 2, 1): a tile reads one group's planes.
  std::vector<ChannelTile> tiles;
  for (i64 grp = 0; grp < g.G; ++grp) {
    i64 c = grp * g.cout_g;
    const i64 end = c + g.cout_g;
    for (const i64 cb : {4, 2, 1})
      for (; c + cb <= end; c += cb) tiles.push_back({grp, c, cb});
  }
  const i64 nt = static_cast<i64>(tiles.size());
  const std::vector<i64> tap_off = tap_offsets(g);
  const i64* to = tap_off.data();
  at::parallel_for(0, g.N * nt * g.HO, 1, [&](i64 begin, i64 end) {
    for (i64 t = begin; t < end; ++t) {
      const i64 n = t / (nt * g.HO), rest = t % (nt * g.HO);
      const ChannelTile& ct = tiles[rest / g.HO];
      const i64 oy = rest % g.HO;
      if (ct.cb == 4) conv_row<S, 4>(g, to, planes, wts, tap_zero, e, n, ct.grp, ct.c0, oy);
      else if (ct.cb == 2) conv_row<S, 2>(g, to, planes, wts, tap_zero, e, n, ct.grp, ct.c0, oy);
      else conv_row<S, 1>(g, to, planes, wts, tap_zero, e, n, ct.grp, ct.c0, oy);
    }
  });
}

void dispatch(int simd, const Geo& g, const u64* planes, const u64* wts, const int32_t* tap_zero,
              const Epilogue& e) {
  switch (simd) {
#ifdef BNN_HAVE_AVX512
    case AVX512: return conv_all<Avx512Ops>(g, planes, wts, tap_zero, e);
#endif
#ifdef BNN_HAVE_AVX2
    case AVX2: return conv_all<Avx2Ops>(g, planes, wts, tap_zero, e);
#endif
#ifdef BNN_HAVE_NEON
    case NEON: return conv_all<NeonOps>(g, planes, wts, tap_zero, e);
#endif
    case SCALAR: return conv_all<ScalarOps>(g, planes, wts, tap_zero, e);
    default: TORCH_CHECK(false, "simd variant ", simd, " is not compiled into this build");
  }
}

// ---- depth-wise convs ---------------------------------------------------------------------------
// With one input channel per group a 64-bit word would hold one bit: such convs run on int8
// planes instead, +1 / -1 per pixel and 0 in the padding, so that a padded tap adds exactly 0 (no
// border correction). A tap with weight sign +1 adds its shifted plane, one with -1 subtracts
// it, in int8 (|count| <= 127 taps), vectorised over all output rows at once (64 per AVX-512
// register).

bool bytewise(const Geo& g) { return byte_planes(g.cin_g, g.KH * g.KW); }

// 64 int8 lanes as one value (GCC / Clang vector extension: one AVX-512 register, two AVX2 or
// four NEON ones); + and - wrap like int8, exact here since |count| <= 127 taps.
typedef int8_t Bytes64 __attribute__((vector_size(64)));
constexpr i64 kByteBlock = 64;

inline i64 round_up(i64 n, i64 m) { return (n + m - 1) / m * m; }

inline Bytes64 load_bytes(const int8_t* p) {
  Bytes64 v;
  std::memcpy(&v, p, kByteBlock);  // unaligned
  return v;
}

#if defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__BMI2__)
#define BNN_BYTE_ROWS_AVX512 1
// Thresholding a row into +1 / -1 bytes, 16 floats per compare into a mask: a plain loop over
// bytes keeps a compare, a convert and a byte store per pixel, and stride 2 (every strided
// depth-wise conv here) splits the mask bits into the even and odd phase with pext instead of
// reading floats at a stride.
inline __m128i sign_bytes(uint32_t mask) {
  return _mm_mask_blend_epi8(static_cast<__mmask16>(mask), _mm_set1_epi8(-1), _mm_set1_epi8(1));
}

inline uint32_t lanes(i64 n) { return n >= 16 ? 0xFFFFu : (1u << n) - 1; }  // the first n of 16

// Bits x >= th of in[0 .. n), n <= 16 (masked lanes are never read).
inline uint32_t ge_mask(const float* in, i64 n, __m512 th) {
  const __mmask16 live = static_cast<__mmask16>(lanes(n));
  return _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, in), th, _CMP_GE_OQ);
}

void threshold_row(const float* in, i64 w, float th, uint8_t* dst) {
  const __m512 t = _mm512_set1_ps(th);
  for (i64 q = 0; q < w; q += 16)
    _mm_mask_storeu_epi8(dst + q, static_cast<__mmask16>(lanes(w - q)), sign_bytes(ge_mask(in + q, w - q, t)));
}

void threshold_row_s2(const float* in, i64 w, float th, uint8_t* even, uint8_t* odd) {
  const __m512 t = _mm512_set1_ps(th);
  for (i64 q = 0; q < w; q += 32) {
    const i64 n = std::min<i64>(32, w - q);
    const uint32_t m = ge_mask(in + q, n, t) | (n > 16 ? ge_mask(in + q + 16, n - 16, t) << 16 : 0u);
    _mm_mask_storeu_epi8(even + q / 2, static_cast<__mmask16>(lanes((n + 1) / 2)), sign_bytes(_pext_u32(m, 0x55555555u)));
    if (n > 1)
      _mm_mask_storeu_epi8(odd + q / 2, static_cast<__mmask16>(lanes(n / 2)), sign_bytes(_pext_u32(m, 0xAAAAAAAAu)));
  }
}
#endif

// One channel's input plane(s) (all stride phases) of +1 / -1 bytes; `out` points at the
// channel's first plane, pre-zeroed (the padding).
void pack_channel_bytes(const Geo& g, const std::vector<i64>& rows, const std::vector<i64>& cols,
                        const float* src, float th, uint8_t* out) {
  const i64 w = g.W;  // a local bound: byte stores may alias g
  for (i64 y = 0; y < g.H; ++y) {
    uint8_t* __restrict row = out + rows[y];
    const float* __restrict in = src + y * w;
#ifdef BNN_BYTE_ROWS_AVX512
    if (g.SW == 1) {
      threshold_row(in, w, th, row + cols[0]);
      continue;
    }
    if (g.SW == 2) {
      threshold_row_s2(in, w, th, row + cols[0], w > 1 ? row + cols[1] : nullptr);
      continue;
    }
#endif
    if (g.SW == 1) {
      uint8_t* __restrict dst = row + cols[0];
      // branch-free, in blocks of 16: a plain loop over bytes is vectorised 64 wide, which rows
      // shorter than 64 reach only through masked tails
      i64 q = 0;
      for (; q + 16 <= w; q += 16)
        for (int k = 0; k < 16; ++k) dst[q + k] = static_cast<uint8_t>(2 * (in[q + k] >= th) - 1);
#pragma GCC ivdep
      for (; q < w; ++q) dst[q] = static_cast<uint8_t>(2 * (in[q] >= th) - 1);
    } else {
      // one stride phase at a time: strided reads, contiguous writes
      for (i64 q0 = 0; q0 < std::min<i64>(g.SW, w); ++q0) {
        uint8_t* __restrict dst = row + cols[q0];
        const i64 sw = g.SW, m = (w - q0 + sw - 1) / sw;
        for (i64 j = 0; j < m; ++j) dst[j] = static_cast<uint8_t>(2 * (in[q0 + j * sw] >= th) - 1);
      }
    }
  }
}

// Output channel c of sample n from its group's planes at `base`: the signed sum of the shifted
// planes over the taps, then the epilogue. acc: HO * WQ bytes rounded up to 64, plus 64 (the
// epilogue's 16-byte reads past a row); wide: HO * WQ 32-bit words.
void conv_channel_bytes(const Geo& g, const std::vector<i64>& tap_off, const int8_t* base,
                        const u64* wts, const Epilogue& e, i64 n, i64 c, int8_t* acc, int32_t* wide) {
  const i64 taps = g.KH * g.KW;
  // The output is accumulated on the planes' full width WQ, all rows as one flat range; columns
  // >= WO read past the row and are dropped.
  const i64 len = g.HO * g.WQ;
  int8_t* __restrict ac = acc;
  // The taps whose weight is +1 add their shifted plane, the others subtract it: one pass over
  // the output in blocks of 64 bytes held in a register across all taps (one load and one add
  // per tap and block; a pass per tap would load and store the accumulator every time).
  const int8_t* plus[127];
  const int8_t* minus[127];
  int np = 0, nm = 0;
  for (i64 k = 0; k < taps; ++k) {
    if (wts[c * taps + k] & 1) plus[np++] = base + tap_off[k];
    else minus[nm++] = base + tap_off[k];
  }
  // the last block runs whole: it reads into the planes' slack and writes into acc's rounding
  for (i64 i = 0; i < len; i += kByteBlock) {
    Bytes64 s = {};
    for (int k = 0; k < np; ++k) s += load_bytes(plus[k] + i);
    for (int k = 0; k < nm; ++k) s -= load_bytes(minus[k] + i);
    std::memcpy(ac + i, &s, kByteBlock);
  }
  const i64 wq = g.WQ, wo = g.WO;
  const i64 o = (n * g.cout + c) * g.HO * wo;
  if (e.out_raw != nullptr) {  // the raw counts, row by row
    for (i64 oy = 0; oy < g.HO; ++oy) {
      int32_t* __restrict out = e.out_raw + o + oy * wo;
      const int8_t* __restrict src = ac + oy * wq;
      for (i64 x = 0; x < wo; ++x) out[x] = src[x];
    }
    return;
  }
  const float sc = e.scale ? e.scale[c] : 1.0f;
  const float ss = e.sample_scale ? e.sample_scale[e.sample_scale_per_channel ? n * g.cout + c : n] : 1.0f;
  const float bi = e.bias ? e.bias[c] : 0.0f;
#ifdef BNN_BYTE_ROWS_AVX512
  // Straight from the byte counts into the output rows, 16 pixels per step (masked at a row's
  // end; the count reads stay inside acc's rounding): mul, mul, add in the reference's order.
  {
    const __m512 vsc = _mm512_set1_ps(sc), vss = _mm512_set1_ps(ss), vbi = _mm512_set1_ps(bi);
    for (i64 oy = 0; oy < g.HO; ++oy) {
      const int8_t* a = ac + oy * wq;
      float* out = e.out + o + oy * wo;
      const float* res = e.residual ? e.residual + o + oy * wo : nullptr;
      for (i64 x = 0; x < wo; x += 16) {
        const __mmask16 live = static_cast<__mmask16>(lanes(wo - x));
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + x));
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes));
        v = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(v, vsc), vss), vbi);
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(live, res + x));
        _mm512_mask_storeu_ps(out + x, live, v);
      }
    }
    return;
  }
#endif
  // elsewhere: the epilogue over the flat accumulator in one loop, then one copy per output row
  float* __restrict y = reinterpret_cast<float*>(wide);
  for (i64 i = 0; i < len; ++i) y[i] = epilogue(static_cast<int32_t>(ac[i]), sc, ss, bi);
  for (i64 oy = 0; oy < g.HO; ++oy) {
    float* __restrict out = e.out + o + oy * wo;
    const float* __restrict yr = y + oy * wq;
    if (e.residual) {
      const float* __restrict res = e.residual + o + oy * wo;
      for (i64 x = 0; x < wo; ++x) out[x] = yr[x] + res[x];
    } else {
      for (i64 x = 0; x < wo; ++x) out[x] = yr[x];  // a loop, not a memcpy call per short row
    }
  }
}

// Float input straight to output, one group at a time: its planes are built in a small
// per-thread buffer (cache-resident) and used by the group's output channels at once.
void conv_bytes_float(const Geo& g, const float* x, const float* thr, bool per_sample, const u64* wts,
                      const Epilogue& e) {
  const std::vector<i64> cols = g.col_offsets(), rows = g.row_offsets();
  const std::vector<i64> tap_off = tap_offsets(g);
  const i64 planes = g.SH * g.SW * g.plane_size() + (g.KH + 1) * g.WQ + kSlack;  // + reads past the end
  at::parallel_for(0, g.N * g.G, 1, [&](i64 begin, i64 end) {
    std::vector<uint8_t> buf(planes);
    std::vector<int8_t> acc(round_up(g.HO * g.WQ, kByteBlock) + kByteBlock);
    std::vector<int32_t> wide(g.HO * g.WQ);
    for (i64 t = begin; t < end; ++t) {
      const i64 n = t / g.G, grp = t % g.G;
      // zeroed once (by the vector): each group rewrites every pixel of its planes, the padding
      // and the slack are never written, so they stay 0
      const float th = thr == nullptr ? 0.0f : thr[per_sample ? t : grp];
      pack_channel_bytes(g, rows, cols, x + t * g.H * g.W, th, buf.data());
      for (i64 c = grp * g.cout_g; c < (grp + 1) * g.cout_g; ++c)
        conv_channel_bytes(g, tap_off, reinterpret_cast<const int8_t*>(buf.data()), wts, e, n, c,
                           acc.data(), wide.data());
    }
  });
}

// NHWC-packed int32 activations (one bit per group) -> byte planes of the whole batch.
void pack_bytes_nhwc(const int32_t* xp, const Geo& g, uint8_t* out) {
  const std::vector<i64> cols = g.col_offsets(), rows = g.row_offsets();
  at::parallel_for(0, g.N * g.H, 1, [&](i64 begin, i64 end) {
    for (i64 t = begin; t < end; ++t) {
      const i64 n = t / g.H, y = t % g.H;
      for (i64 q = 0; q < g.W; ++q)
        for (i64 c = 0; c < g.G; ++c)
          out[g.plane(n, c, 0, 0) + rows[y] + cols[q]] =
              static_cast<uint8_t>(2 * (xp[((n * g.H + y) * g.W + q) * g.G + c] & 1) - 1);
    }
  });
}

void conv_bytes(const Geo& g, const int8_t* planes, const u64* wts, const Epilogue& e) {
  const std::vector<i64> tap_off = tap_offsets(g);
  at::parallel_for(0, g.N * g.cout, 1, [&](i64 begin, i64 end) {
    std::vector<int8_t> acc(round_up(g.HO * g.WQ, kByteBlock) + kByteBlock);
    std::vector<int32_t> wide(g.HO * g.WQ);
    for (i64 t = begin; t < end; ++t) {
      const i64 n = t / g.cout, c = t % g.cout;
      conv_channel_bytes(g, tap_off, planes + g.plane(n, c / g.cout_g, 0, 0), wts, e, n, c,
                         acc.data(), wide.data());
    }
  });
}

const float* opt_ptr(const c10::optional<torch::Tensor>& t) {
  return t.has_value() ? t->data_ptr<float>() : nullptr;
}

void check_float(const c10::optional<torch::Tensor>& t, const char* name) {
  if (t.has_value()) {
    TORCH_CHECK(t->scalar_type() == torch::kFloat32 && t->is_contiguous() && t->device().is_cpu(),
                name, " must be a contiguous float32 CPU tensor");
  }
}

}  // namespace

// Pack conv weights (C_out, kh, kw, WG32) int32 into 64-bit words (C_out, kh, kw, WG) and the
// contribution of each (channel, tap) when its input is padding: cin_g - 2 popcount(w).
std::vector<torch::Tensor> prepack_weights(torch::Tensor w32, int64_t cin_g) {
  TORCH_CHECK(w32.dim() == 4 && w32.scalar_type() == torch::kInt32 && w32.device().is_cpu(),
              "weights must be 4-D int32 CPU words");
  auto w = w32.contiguous();
  const i64 cout = w.size(0), kh = w.size(1), kw = w.size(2), wg32 = w.size(3);
  const i64 wg = (wg32 + 1) / 2;
  auto out = torch::empty({cout, kh, kw, wg}, torch::kInt64);
  auto tap_zero = torch::empty({cout, kh, kw}, torch::kInt32);
  const int32_t* src = w.data_ptr<int32_t>();
  u64* dst = reinterpret_cast<u64*>(out.data_ptr<int64_t>());
  int32_t* tz = tap_zero.data_ptr<int32_t>();
  for (i64 t = 0; t < cout * kh * kw; ++t) {
    i64 ones = 0;
    for (i64 k = 0; k < wg; ++k) {
      const u64 lo = static_cast<uint32_t>(src[t * wg32 + 2 * k]);
      const u64 hi = 2 * k + 1 < wg32 ? static_cast<uint32_t>(src[t * wg32 + 2 * k + 1]) : 0;
      dst[t * wg + k] = lo | (hi << 32);
      ones += __builtin_popcountll(dst[t * wg + k]);
    }
    tz[t] = static_cast<int32_t>(cin_g - 2 * ones);
  }
  return {out, tap_zero};
}

// Word planes of a float input (N, C, H, W): bits x >= threshold (threshold (C,) or (N, C)).
torch::Tensor pack_planes_float(torch::Tensor x, c10::optional<torch::Tensor> threshold,
                                int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                int64_t ph, int64_t pw, int64_t simd) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat32 && x.device().is_cpu(),
              "x must be a 4-D float32 CPU tensor");
  auto xc = x.contiguous();
  check_float(threshold, "threshold");
  const Geo g = make_geo(x.size(0), x.size(1), x.size(2), x.size(3), groups, groups, kh, kw, sh,
                         sw, ph, pw);
  const bool per_sample = threshold.has_value() && threshold->dim() == 2;
  if (bytewise(g)) {
    auto bytes = torch::zeros({g.total_words()}, torch::kUInt8);
    const std::vector<i64> cols = g.col_offsets(), rows = g.row_offsets();
    const float* xd = xc.data_ptr<float>();
    const float* td = opt_ptr(threshold);
    uint8_t* out = bytes.data_ptr<uint8_t>();
    at::parallel_for(0, g.N * g.G, 1, [&](i64 begin, i64 end) {
      for (i64 t = begin; t < end; ++t) {
        const float th = td == nullptr ? 0.0f : td[per_sample ? t : t % g.G];
        pack_channel_bytes(g, rows, cols, xd + t * g.H * g.W, th, out + g.plane(t / g.G, t % g.G, 0, 0));
      }
    });
    return bytes;
  }
  auto planes = torch::zeros({g.total_words()}, torch::kInt64);
  u64* words = reinterpret_cast<u64*>(planes.data_ptr<int64_t>());
  const float* xd = xc.data_ptr<float>();
  const float* td = opt_ptr(threshold);
  switch (simd) {
#ifdef BNN_HAVE_AVX512
    case AVX512: pack_float<AVX512>(xd, td, per_sample, g, words); break;
#endif
#ifdef BNN_HAVE_AVX2
    case AVX2: pack_float<AVX2>(xd, td, per_sample, g, words); break;
#endif
    default: pack_float<SCALAR>(xd, td, per_sample, g, words); break;
  }
  shifted_copies(g, words);
  return planes;
}

// Word planes of NHWC-packed int32 activations (N, H, W, groups * WG32).
torch::Tensor pack_planes_nhwc(torch::Tensor xp, int64_t in_channels, int64_t groups, int64_t kh,
                               int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  TORCH_CHECK(xp.dim() == 4 && xp.scalar_type() == torch::kInt32 && xp.device().is_cpu(),
              "x_packed must be 4-D int32 CPU words");
  auto xc = xp.contiguous();
  const Geo g = make_geo(xp.size(0), in_channels, xp.size(1), xp.size(2), groups, groups, kh, kw,
                         sh, sw, ph, pw);
  if (bytewise(g)) {
    auto bytes = torch::zeros({g.total_words()}, torch::kUInt8);
    pack_bytes_nhwc(xc.data_ptr<int32_t>(), g, bytes.data_ptr<uint8_t>());
    return bytes;
  }
  auto planes = torch::zeros({g.total_words()}, torch::kInt64);
  u64* words = reinterpret_cast<u64*>(planes.data_ptr<int64_t>());
  pack_nhwc(xc.data_ptr<int32_t>(), xp.size(3) / groups, g, words);
  shifted_copies(g, words);
  return planes;
}

Epilogue make_epilogue(const c10::optional<torch::Tensor>& scale, const c10::optional<torch::Tensor>& bias,
                       const c10::optional<torch::Tensor>& sample_scale,
                       const c10::optional<torch::Tensor>& residual, torch::Tensor& out, bool raw) {
  for (const auto* t : {&scale, &bias, &sample_scale, &residual}) check_float(*t, "epilogue tensor");
  TORCH_CHECK(!residual.has_value() || residual->numel() == out.numel(), "residual has the wrong size");
  Epilogue e;
  e.scale = opt_ptr(scale);
  e.bias = opt_ptr(bias);
  e.sample_scale = opt_ptr(sample_scale);
  e.sample_scale_per_channel = sample_scale.has_value() && sample_scale->dim() == 2;
  e.residual = opt_ptr(residual);
  if (raw) e.out_raw = out.data_ptr<int32_t>();
  else e.out = out.data_ptr<float>();
  return e;
}

torch::Tensor conv_planes(torch::Tensor planes, int64_t n, int64_t in_channels, int64_t h,
                          int64_t w, int64_t groups, torch::Tensor weights, torch::Tensor tap_zero,
                          int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                          c10::optional<torch::Tensor> scale, c10::optional<torch::Tensor> bias,
                          c10::optional<torch::Tensor> sample_scale,
                          c10::optional<torch::Tensor> residual, bool raw, int64_t simd);

// The whole layer from a float input (N, C, H, W): bits x >= threshold, the conv and the
// epilogue. Depth-wise convs pack each group's planes in a cache-resident buffer right before
// its conv; the others pack the batch into word planes, then convolve.
torch::Tensor conv_float(torch::Tensor x, c10::optional<torch::Tensor> threshold, int64_t groups,
                         torch::Tensor weights, torch::Tensor tap_zero, int64_t sh, int64_t sw,
                         int64_t ph, int64_t pw, c10::optional<torch::Tensor> scale,
                         c10::optional<torch::Tensor> bias, c10::optional<torch::Tensor> sample_scale,
                         c10::optional<torch::Tensor> residual, bool raw, int64_t simd) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat32 && x.device().is_cpu(),
              "x must be a 4-D float32 CPU tensor");
  TORCH_CHECK(weights.scalar_type() == torch::kInt64 && weights.is_contiguous() && weights.dim() == 4,
              "weights must come from prepack_weights");
  check_float(threshold, "threshold");
  const Geo g = make_geo(x.size(0), x.size(1), x.size(2), x.size(3), groups, weights.size(0),
                         weights.size(1), weights.size(2), sh, sw, ph, pw);
  if (!bytewise(g)) {
    torch::Tensor planes = pack_planes_float(x, threshold, groups, g.KH, g.KW, sh, sw, ph, pw, simd);
    return conv_planes(planes, g.N, g.G * g.cin_g, g.H, g.W, groups, weights, tap_zero, sh, sw, ph,
                       pw, scale, bias, sample_scale, residual, raw, simd);
  }
  auto xc = x.contiguous();
  torch::Tensor out = torch::empty({g.N, g.cout, g.HO, g.WO}, raw ? torch::kInt32 : torch::kFloat32);
  const Epilogue e = make_epilogue(scale, bias, sample_scale, residual, out, raw);
  conv_bytes_float(g, xc.data_ptr<float>(), opt_ptr(threshold),
                   threshold.has_value() && threshold->dim() == 2,
                   reinterpret_cast<const u64*>(weights.data_ptr<int64_t>()), e);
  return out;
}

// The conv of word planes (from pack_planes_*) with prepacked weights, plus the fused epilogue.
torch::Tensor conv_planes(torch::Tensor planes, int64_t n, int64_t in_channels, int64_t h,
                          int64_t w, int64_t groups, torch::Tensor weights, torch::Tensor tap_zero,
                          int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                          c10::optional<torch::Tensor> scale, c10::optional<torch::Tensor> bias,
                          c10::optional<torch::Tensor> sample_scale,
                          c10::optional<torch::Tensor> residual, bool raw, int64_t simd) {
  TORCH_CHECK(weights.scalar_type() == torch::kInt64 && weights.is_contiguous() && weights.dim() == 4,
              "weights must come from prepack_weights");
  TORCH_CHECK(tap_zero.scalar_type() == torch::kInt32 && tap_zero.is_contiguous(),
              "tap_zero must come from prepack_weights");
  const Geo g = make_geo(n, in_channels, h, w, groups, weights.size(0), weights.size(1),
                         weights.size(2), sh, sw, ph, pw);
  TORCH_CHECK(weights.size(3) == g.WG, "weights have ", weights.size(3), " words per tap; ",
              g.cin_g, " channels per group need ", g.WG);
  const bool bytes = bytewise(g);
  TORCH_CHECK(planes.scalar_type() == (bytes ? torch::kUInt8 : torch::kInt64) && planes.is_contiguous() &&
                  planes.numel() == g.total_words(),
              "planes do not match the conv geometry");
  torch::Tensor out = torch::empty({g.N, g.cout, g.HO, g.WO}, raw ? torch::kInt32 : torch::kFloat32);
  const Epilogue e = make_epilogue(scale, bias, sample_scale, residual, out, raw);
  if (bytes) {
    conv_bytes(g, reinterpret_cast<const int8_t*>(planes.data_ptr<uint8_t>()),
               reinterpret_cast<const u64*>(weights.data_ptr<int64_t>()), e);
    return out;
  }
  dispatch(static_cast<int>(simd), g,
           reinterpret_cast<const u64*>(planes.data_ptr<int64_t>()),
           reinterpret_cast<const u64*>(weights.data_ptr<int64_t>()), tap_zero.data_ptr<int32_t>(),
           e);
  return out;
}

// Throughput probe: `iters` rounds of XOR + popcount + add on 16 independent accumulators of the
// chosen variant, with no memory traffic; returns the 64-bit word operations done (a checksum keeps
// the loop alive). Timed from Python, it bounds what the conv's inner loop could reach.
template <class S>
i64 probe(i64 iters) {
  using V = typename S::V;
  V acc[16];
  alignas(64) u64 seed[kMaxLanes];
  for (int i = 0; i < kMaxLanes; ++i) seed[i] = 0x9E3779B97F4A7C15ULL * (i + 1);
  const V w = S::load(seed);
  for (int i = 0; i < 16; ++i) acc[i] = S::bcast(0x0123456789ABCDEFULL * (i + 1));
  for (i64 k = 0; k < iters; ++k)
    for (int i = 0; i < 16; ++i) acc[i] = S::acc(acc[i], acc[i], w);
  alignas(64) u64 out[kMaxLanes];
  u64 sum = 0;
  for (int i = 0; i < 16; ++i) {
    S::store(out, acc[i]);
    for (int l = 0; l < S::L; ++l) sum += out[l];
  }
  return sum == 42 ? -1 : iters * 16 * S::L;
}

int64_t popcount_probe(int64_t iters, int64_t simd) {
  switch (simd) {
#ifdef BNN_HAVE_AVX512
    case AVX512: return probe<Avx512Ops>(iters);
#endif
#ifdef BNN_HAVE_AVX2
    case AVX2: return probe<Avx2Ops>(iters);
#endif
#ifdef BNN_HAVE_NEON
    case NEON: return probe<NeonOps>(iters);
#endif
    default: return probe<ScalarOps>(iters);
  }
}

// The SIMD variants compiled into this build, best first.
std::vector<std::string> simd_variants() {
  std::vector<std::string> v;
#ifdef BNN_HAVE_AVX512
  v.push_back("avx512");
#endif
#ifdef BNN_HAVE_AVX2
  v.push_back("avx2");
#endif
#ifdef BNN_HAVE_NEON
  v.push_back("neon");
#endif
  v.push_back("scalar");
  return v;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "bnnbench: bit-packed binary convolution on the CPU (XOR + popcount on 64-bit words)";
  m.def("prepack_weights", &prepack_weights);
  m.def("pack_planes_float", &pack_planes_float);
  m.def("pack_planes_nhwc", &pack_planes_nhwc);
  m.def("conv_planes", &conv_planes);
  m.def("conv_float", &conv_float);
  m.def("simd_variants", &simd_variants);
  m.def("popcount_probe", &popcount_probe);
}
