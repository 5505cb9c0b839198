#include "fusion/tracking/jpda.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "fusion/core/errors.hpp"

namespace fusion::tracking {

JpdaMethod jpda_method_from_string(std::string_view name) {
  if (name == "auto") return JpdaMethod::kAuto;
  if (name == "enumerate") return JpdaMethod::kEnumerate;
  if (name == "exact") return JpdaMethod::kExact;
  if (name == "lbp") return JpdaMethod::kLbp;
  throw ConfigurationError("jpda_method: expected one of 'auto', 'enumerate', 'exact', 'lbp', got '" +
                           std::string(name) + "'");
}

const char* to_string(JpdaMethod m) {
  switch (m) {
    case JpdaMethod::kAuto: return "auto";
    case JpdaMethod::kEnumerate: return "enumerate";
    case JpdaMethod::kExact: return "exact";
    case JpdaMethod::kLbp: return "lbp";
    case JpdaMethod::kSingle: return "single";
  }
  return "unknown";
}

namespace {
int floor_log2(Index v) {
  int b = 0;
  while (b < JpdaSolver::kMaxFrontierBits && (Index{2} << b) <= v) ++b;
  return b;
}
// A plain loop, not std::fill: GCC cannot prove n >= 0 and warns about the memset bound.
template <class T, class V>
void set_n(T* p, Index n, V v) {
  for (Index i = 0; i < n; ++i) p[i] = static_cast<T>(v);
}
template <class T>
void grow(std::vector<T>& v, Index n) {
  if (static_cast<Index>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
}
}  // namespace

void JpdaSolver::reserve(Index max_tracks, Index max_meas, Index max_edges, Index max_states) {
  if (max_tracks < 0 || max_meas < 0 || max_edges < 0 || max_states < 1)
    throw ConfigurationError("JpdaSolver.reserve: sizes must be non-negative and max_states >= 1");
  max_states_ = max_states;
  const Index K = max_tracks + 1, M = max_meas + 1, E = max_edges + 1;
  const int bits = floor_log2(max_states_);
  for (auto* v : {&w_, &acc_, &mu_, &nu_}) grow(*v, E);
  for (auto* v : {&miss_, &acc0_}) grow(*v, K);
  grow(msum_, std::max(M, E));
  grow(used_, M);
  grow(seen_, K);
  grow(choice_, K);
  grow(depth_w_, K + 1);
  for (auto* v : {&order_, &by_degree_, &size_, &src_off_, &table_off_}) grow(*v, K + 1);
  for (auto* v : {&mptr_, &mfill_, &first_, &last_, &pos_a_, &pos_b_, &frontier_, &deg_start_})
    grow(*v, M + 1);
  for (auto* v : {&mtracks_, &bit_cur_, &bit_next_}) grow(*v, E);
  grow(src_, K * (bits + 1));
  grow(table_, max_states_);
  grow(alpha_, Index{1} << bits);
  grow(alpha_next_, Index{1} << bits);
}

void JpdaSolver::rescale(Index K, const Index* ptr, const double* w, const double* miss) {
  for (Index k = 0; k < K; ++k) {
    if (!(miss[k] > 0.0) || !std::isfinite(miss[k]))
      throw NumericalError("JPDA: miss weight of track " + std::to_string(k) +
                           " must be positive and finite");
    double mx = miss[k];
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) {
      if (!(w[e] >= 0.0) || !std::isfinite(w[e]))
        throw NumericalError("JPDA: likelihood ratio of edge " + std::to_string(e) +
                             " must be non-negative and finite");
      mx = std::max(mx, w[e]);
    }
    // Per-track scale factors cancel in the marginals; this keeps every weight <= 1.
    miss_[k] = miss[k] / mx;
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) w_[e] = w[e] / mx;
  }
}

JpdaMethod JpdaSolver::solve(Index K, Index m, const Index* ptr, const Index* meas,
                             const double* w, const double* miss, double* beta, double* beta0,
                             JpdaMethod method) {
  if (K < 0 || m < 0) throw ShapeError("JPDA: negative cluster size");
  if (K == 0) return JpdaMethod::kSingle;
  if (ptr[0] != 0) throw ShapeError("JPDA: ptr[0] must be 0");
  const Index E = ptr[K];
  for (Index k = 0; k < K; ++k)
    if (ptr[k + 1] < ptr[k]) throw ShapeError("JPDA: ptr must be non-decreasing");
  // Reserve-on-demand keeps the standalone use simple; the tracker reserves up front.
  reserve(K, m, E, max_states_);
  set_n(used_.data(), m, 0);
  for (Index k = 0; k < K; ++k) {
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) {
      const Index j = meas[e];
      if (j < 0 || j >= m)
        throw ShapeError("JPDA: measurement index " + std::to_string(j) + " outside [0, " +
                         std::to_string(m) + ")");
      if (used_[j]) throw ShapeError("JPDA: track " + std::to_string(k) +
                                     " lists measurement " + std::to_string(j) + " twice");
      used_[j] = 1;
    }
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) used_[meas[e]] = 0;
  }
  rescale(K, ptr, w, miss);

  if (K == 1 || E == 0) {
    solve_single(K, ptr, beta, beta0);
    return JpdaMethod::kSingle;
  }
  double events = 1.0;
  for (Index k = 0; k < K; ++k) events *= static_cast<double>(ptr[k + 1] - ptr[k] + 1);
  if (method == JpdaMethod::kAuto && events <= kAutoEnumerateEvents) method = JpdaMethod::kEnumerate;
  if (method == JpdaMethod::kAuto) method = JpdaMethod::kExact;
  if (method == JpdaMethod::kEnumerate) {
    if (events <= kMaxEnumerateEvents) {
      enumerate(K, m, ptr, meas, beta, beta0);
      return JpdaMethod::kEnumerate;
    }
    method = JpdaMethod::kExact;
  }
  if (method == JpdaMethod::kExact) {
    if (exact(K, m, ptr, meas, beta, beta0)) return JpdaMethod::kExact;
  }
  lbp(K, m, ptr, meas, beta, beta0);
  return JpdaMethod::kLbp;
}

// Tracks that share no measurement are independent: each is a PDA in closed form.
void JpdaSolver::solve_single(Index K, const Index* ptr, double* beta, double* beta0) const {
  for (Index k = 0; k < K; ++k) {
    double tot = miss_[k];
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) tot += w_[e];
    beta0[k] = miss_[k] / tot;
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) beta[e] = w_[e] / tot;
  }
}

// ---------------------------------------------------------------- enumeration
void JpdaSolver::enumerate(Index K, Index m, const Index* ptr, const Index* meas, double* beta,
                           double* beta0) {
  set_n(used_.data(), m, 0);
  set_n(acc_.data(), ptr[K], 0.0);
  set_n(acc0_.data(), K, 0.0);
  // Depth-first over the tracks with an explicit stack, not recursion: the depth is K, and a
  // cluster may hold any number of tracks (150,000 tracks of which one has a measurement is
  // only 2 events, but a recursion that deep overflows the thread's stack).
  // choice_[k]: the option track k is on: kNotStarted, kMiss or an edge index; depth_w_[k]:
  // the weight of the choices of tracks 0..k-1. Options are visited miss first, then edges in
  // order, branches at a used measurement or a zero weight pruned.
  constexpr Index kNotStarted = -2, kMiss = -1;
  depth_w_[0] = 1.0;
  choice_[0] = kNotStarted;
  Index k = 0;
  while (k >= 0) {
    if (k == K) {
      const double weight = depth_w_[K];
      for (Index i = 0; i < K; ++i) {
        const Index c = choice_[i];
        if (c < 0)
          acc0_[i] += weight;
        else
          acc_[c] += weight;
      }
      --k;
      continue;
    }
    const Index c = choice_[k];
    Index next = kMiss;
    if (c != kNotStarted) {
      if (c >= 0) used_[meas[c]] = 0;  // leave the previous option
      next = c == kMiss ? ptr[k] : c + 1;
      while (next < ptr[k + 1] && (used_[meas[next]] || w_[next] == 0.0)) ++next;
      if (next == ptr[k + 1]) {  // options of track k exhausted: back to track k - 1
        choice_[k] = kNotStarted;
        --k;
        continue;
      }
    }
    choice_[k] = next;
    if (next >= 0) {
      used_[meas[next]] = 1;
      depth_w_[k + 1] = depth_w_[k] * w_[next];
    } else {
      depth_w_[k + 1] = depth_w_[k] * miss_[k];
    }
    ++k;
    if (k < K) choice_[k] = kNotStarted;
  }
  // Every event contributes to exactly one option per track, so each row sums to the total.
  for (Index t = 0; t < K; ++t) {
    double tot = acc0_[t];
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e) tot += acc_[e];
    beta0[t] = acc0_[t] / tot;
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e) beta[e] = acc_[e] / tot;
  }
}

// ---------------------------------------------------------------- exact (frontier recursion)
bool JpdaSolver::exact(Index K, Index m, const Index* ptr, const Index* meas, double* beta,
                       double* beta0) {
  const Index E = ptr[K];
  const int max_bits = floor_log2(max_states_);
  // Measurement -> tracks (CSR), for the breadth-first track order.
  set_n(mptr_.data(), m + 1, 0);
  for (Index e = 0; e < E; ++e) ++mptr_[meas[e] + 1];
  for (Index j = 0; j < m; ++j) mptr_[j + 1] += mptr_[j];
  std::copy(mptr_.begin(), mptr_.begin() + m, mfill_.begin());
  for (Index k = 0; k < K; ++k)
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) mtracks_[mfill_[meas[e]]++] = k;

  // Breadth-first order from a lowest-degree track (Cuthill-McKee style): consecutive
  // tracks are neighbours, so few measurements are shared between past and future tracks.
  // Each breadth-first search starts from the unseen track of lowest degree (lowest index
  // among equals): the tracks sorted once by degree (a stable counting sort; a degree is at
  // most m) and a cursor that only moves forward, so that ordering is O(K + m + E) however
  // many components the cluster has (a scan per component was O(K^2): minutes for 10^5
  // isolated tracks).
  set_n(deg_start_.data(), m + 2, 0);
  for (Index k = 0; k < K; ++k) ++deg_start_[ptr[k + 1] - ptr[k] + 1];
  for (Index d = 0; d <= m; ++d) deg_start_[d + 1] += deg_start_[d];
  for (Index k = 0; k < K; ++k) by_degree_[deg_start_[ptr[k + 1] - ptr[k]]++] = k;
  set_n(seen_.data(), K, 0);
  Index n_ordered = 0, cursor = 0;
  while (n_ordered < K) {
    while (seen_[by_degree_[cursor]]) ++cursor;
    const Index start = by_degree_[cursor];
    Index head = n_ordered;
    order_[n_ordered++] = start;
    seen_[start] = 1;
    while (head < n_ordered) {
      const Index t = order_[head++];
      for (Index e = ptr[t]; e < ptr[t + 1]; ++e) {
        const Index j = meas[e];
        for (Index q = mptr_[j]; q < mptr_[j + 1]; ++q) {
          const Index t2 = mtracks_[q];
          if (!seen_[t2]) {
            seen_[t2] = 1;
            order_[n_ordered++] = t2;
          }
        }
      }
    }
  }

  // First and last position (in that order) of a track taking each measurement.
  set_n(first_.data(), m, K);
  set_n(last_.data(), m, -1);
  for (Index p = 0; p < K; ++p) {
    const Index t = order_[p];
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e) {
      first_[meas[e]] = std::min(first_[meas[e]], p);
      last_[meas[e]] = std::max(last_[meas[e]], p);
    }
  }

  // Frontier before position p: measurements taken by a track before p and one at or after
  // p. A state is a bit set over the frontier (bit i: frontier_[i] is used).
  Index* cur = frontier_.data();  // current frontier list (uses frontier_ and pos_b_)
  Index* nxt = pos_b_.data();
  Index* slot = pos_a_.data();  // position of a frontier measurement in its list
  Index cur_n = 0, src_pos = 0, total = 1;
  size_[0] = 0;
  table_off_[0] = 0;
  for (Index p = 0; p < K; ++p) {
    const Index t = order_[p];
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e)
      bit_cur_[e] = first_[meas[e]] < p ? slot[meas[e]] : -1;
    Index nn = 0;
    src_off_[p] = src_pos;
    for (Index i = 0; i < cur_n; ++i) {
      if (last_[cur[i]] > p) {
        if (nn == max_bits) return false;
        nxt[nn++] = cur[i];
        src_[src_pos++] = i;
      }
    }
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e) {
      const Index j = meas[e];
      if (first_[j] == p && last_[j] > p) {
        if (nn == max_bits) return false;
        nxt[nn++] = j;
        src_[src_pos++] = -1;
      }
    }
    for (Index i = 0; i < nn; ++i) slot[nxt[i]] = i;
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e)
      bit_next_[e] = last_[meas[e]] > p ? slot[meas[e]] : -1;
    size_[p + 1] = nn;
    table_off_[p + 1] = total;
    total += Index{1} << nn;
    if (total > max_states_) return false;
    std::swap(cur, nxt);
    cur_n = nn;
  }

  // Maps a state over frontier p onto frontier p + 1 (measurements leaving are dropped).
  auto project = [&](Index p, Index s) {
    Index r = 0;
    const Index* src = src_.data() + src_off_[p];
    for (Index i = 0; i < size_[p + 1]; ++i)
      if (src[i] >= 0 && ((s >> src[i]) & 1)) r |= Index{1} << i;
    return r;
  };

  // Backward: table p holds, per state, the weight of all completions by tracks p..K-1.
  table_[table_off_[K]] = 1.0;
  for (Index p = K - 1; p >= 0; --p) {
    const Index t = order_[p];
    const double* nb = table_.data() + table_off_[p + 1];
    double* cb = table_.data() + table_off_[p];
    const Index ns = Index{1} << size_[p];
    double mx = 0.0;
    for (Index s = 0; s < ns; ++s) {
      const Index ps = project(p, s);
      double v = miss_[t] * nb[ps];
      for (Index e = ptr[t]; e < ptr[t + 1]; ++e) {
        const Index bc = bit_cur_[e], bn = bit_next_[e];
        if (bc >= 0 && ((s >> bc) & 1)) continue;
        v += w_[e] * nb[bn >= 0 ? (ps | (Index{1} << bn)) : ps];
      }
      cb[s] = v;
      mx = std::max(mx, v);
    }
    // Rescaling a whole level leaves the per-track normalised marginals unchanged.
    const double inv = 1.0 / mx;
    for (Index s = 0; s < ns; ++s) cb[s] *= inv;
  }

  // Forward: alpha over frontier p is the weight of tracks 0..p-1 reaching each state; the
  // marginal of an option of track p is alpha * weight * (backward table p + 1).
  double* alpha = alpha_.data();
  double* alpha_next = alpha_next_.data();
  alpha[0] = 1.0;
  for (Index p = 0; p < K; ++p) {
    const Index t = order_[p];
    const double* nb = table_.data() + table_off_[p + 1];
    const Index ns = Index{1} << size_[p], n1 = Index{1} << size_[p + 1];
    set_n(alpha_next, n1, 0.0);
    double acc0 = 0.0;
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e) acc_[e] = 0.0;
    for (Index s = 0; s < ns; ++s) {
      const double a = alpha[s];
      if (a == 0.0) continue;  // unreachable state
      const Index ps = project(p, s);
      double c = a * miss_[t];
      acc0 += c * nb[ps];
      alpha_next[ps] += c;
      for (Index e = ptr[t]; e < ptr[t + 1]; ++e) {
        const Index bc = bit_cur_[e], bn = bit_next_[e];
        if (bc >= 0 && ((s >> bc) & 1)) continue;
        const Index q = bn >= 0 ? (ps | (Index{1} << bn)) : ps;
        c = a * w_[e];
        acc_[e] += c * nb[q];
        alpha_next[q] += c;
      }
    }
    double tot = acc0;
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e) tot += acc_[e];
    beta0[t] = acc0 / tot;
    for (Index e = ptr[t]; e < ptr[t + 1]; ++e) beta[e] = acc_[e] / tot;
    double mx = 0.0;
    for (Index s = 0; s < n1; ++s) mx = std::max(mx, alpha_next[s]);
    const double inv = 1.0 / mx;
    for (Index s = 0; s < n1; ++s) alpha_next[s] *= inv;
    std::swap(alpha, alpha_next);
  }
  return true;
}

// ---------------------------------------------------------------- loopy belief propagation
void JpdaSolver::lbp(Index K, Index m, const Index* ptr, const Index* meas, double* beta,
                     double* beta0) {
  const Index E = ptr[K];
  // Measurement -> edges (CSR) for the measurement-side messages.
  set_n(mptr_.data(), m + 1, 0);
  for (Index e = 0; e < E; ++e) ++mptr_[meas[e] + 1];
  for (Index j = 0; j < m; ++j) mptr_[j + 1] += mptr_[j];
  std::copy(mptr_.begin(), mptr_.begin() + m, mfill_.begin());
  for (Index e = 0; e < E; ++e) mtracks_[mfill_[meas[e]]++] = e;

  set_n(nu_.data(), E, 1.0);
  double* pre = msum_.data();  // prefix sums; exclusive sums are prefix + suffix, not a
                               // subtraction, which would cancel when one option dominates
  lbp_iterations_ = 0;
  for (int it = 0; it < lbp_max_iterations; ++it) {
    ++lbp_iterations_;
    // Track -> measurement: mu = psi_e / (psi_0 + sum over the track's other options).
    for (Index k = 0; k < K; ++k) {
      double run = 0.0;
      for (Index e = ptr[k]; e < ptr[k + 1]; ++e) {
        pre[e] = run;
        run += w_[e] * nu_[e];
      }
      double suf = 0.0;
      for (Index e = ptr[k + 1] - 1; e >= ptr[k]; --e) {
        mu_[e] = w_[e] / (miss_[k] + pre[e] + suf);
        suf += w_[e] * nu_[e];
      }
    }
    // Measurement -> track: nu = 1 / (1 + sum over the measurement's other tracks of mu).
    double delta = 0.0;
    for (Index j = 0; j < m; ++j) {
      const Index b = mptr_[j], en = mptr_[j + 1];
      double run = 0.0;
      for (Index q = b; q < en; ++q) {
        pre[q] = run;
        run += mu_[mtracks_[q]];
      }
      double suf = 0.0;
      for (Index q = en - 1; q >= b; --q) {
        const Index e = mtracks_[q];
        const double v = 1.0 / (1.0 + pre[q] + suf);
        delta = std::max(delta, std::abs(v - nu_[e]));
        nu_[e] = v;
        suf += mu_[e];
      }
    }
    if (delta < lbp_tolerance) break;
  }
  for (Index k = 0; k < K; ++k) {
    double tot = miss_[k];
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) tot += w_[e] * nu_[e];
    beta0[k] = miss_[k] / tot;
    for (Index e = ptr[k]; e < ptr[k + 1]; ++e) beta[e] = w_[e] * nu_[e] / tot;
  }
}

}  // namespace fusion::tracking
