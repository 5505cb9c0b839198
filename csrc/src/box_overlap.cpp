#include "fusion/geometry/box_overlap.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "fusion/core/errors.hpp"

namespace fusion::geometry {

namespace {

inline double cross(const Point2& o, const Point2& a, const Point2& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

inline bool same_box(const Box3& a, const Box3& b) {
  return a.x == b.x && a.y == b.y && a.z == b.z && a.yaw == b.yaw && a.l == b.l && a.w == b.w &&
         a.h == b.h;
}

// Length of the overlap of the vertical extents (0 when they are disjoint or touch).
inline double vertical_overlap(const Box3& a, const Box3& b) {
  const double top = std::min(a.z + 0.5 * a.h, b.z + 0.5 * b.h);
  const double bottom = std::max(a.z - 0.5 * a.h, b.z - 0.5 * b.h);
  return std::max(0.0, top - bottom);
}

inline double vertical_extent(const Box3& a, const Box3& b) {
  return std::max(a.z + 0.5 * a.h, b.z + 0.5 * b.h) - std::min(a.z - 0.5 * a.h, b.z - 0.5 * b.h);
}

// Footprints of a pair relative to the midpoint of their centres: the pair's geometry then
// does not depend on where in the world it sits, which keeps far-from-origin boxes accurate.
struct Footprints {
  std::array<Point2, 4> a, b;
};

inline Footprints footprints(const Box3& a, const Box3& b) {
  const Point2 origin{0.5 * (a.x + b.x), 0.5 * (a.y + b.y)};
  return {bev_corners(a, origin), bev_corners(b, origin)};
}

inline double intersection_area(const Box3& a, const Box3& b, const Footprints& f) {
  // A zero-area footprint has zero-length clip edges, which constrain nothing; answer directly.
  if (!(a.bev_area() > 0.0) || !(b.bev_area() > 0.0)) return 0.0;
  const Polygon p = clip_convex(f.a.data(), 4, f.b.data(), 4);
  return std::max(0.0, polygon_area(p.v.data(), p.n));
}

inline double hull_area(const Footprints& f) {
  std::array<Point2, 8> pts{};
  std::copy(f.a.begin(), f.a.end(), pts.begin());
  std::copy(f.b.begin(), f.b.end(), pts.begin() + 4);
  return convex_hull_area(pts.data(), 8);
}

inline double ratio_or_zero(double num, double den) { return den > 0.0 ? num / den : 0.0; }

inline double clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

double iou_bev_impl(const Box3& a, const Box3& b) {
  const Footprints f = footprints(a, b);
  const double inter = intersection_area(a, b, f);
  return clamp(ratio_or_zero(inter, a.bev_area() + b.bev_area() - inter), 0.0, 1.0);
}

double iou_3d_impl(const Box3& a, const Box3& b) {
  const double dz = vertical_overlap(a, b);
  if (!(dz > 0.0)) return 0.0;  // no clipping needed
  const Footprints f = footprints(a, b);
  const double inter = intersection_area(a, b, f) * dz;
  return clamp(ratio_or_zero(inter, a.volume() + b.volume() - inter), 0.0, 1.0);
}

double giou_bev_impl(const Box3& a, const Box3& b) {
  const Footprints f = footprints(a, b);
  const double enclosing = hull_area(f);
  if (!(enclosing > 0.0)) return 0.0;  // everything collinear: no area to compare
  const double inter = intersection_area(a, b, f);
  const double uni = a.bev_area() + b.bev_area() - inter;
  const double giou = ratio_or_zero(inter, uni) - (enclosing - uni) / enclosing;
  return clamp(giou, -1.0, 1.0);
}

double giou_3d_impl(const Box3& a, const Box3& b) {
  const Footprints f = footprints(a, b);
  const double enclosing = hull_area(f) * vertical_extent(a, b);
  if (!(enclosing > 0.0)) return 0.0;
  const double dz = vertical_overlap(a, b);
  const double inter = dz > 0.0 ? intersection_area(a, b, f) * dz : 0.0;
  const double uni = a.volume() + b.volume() - inter;
  const double giou = ratio_or_zero(inter, uni) - (enclosing - uni) / enclosing;
  return clamp(giou, -1.0, 1.0);
}

// True when the circles circumscribing the two footprints are disjoint or touch, in which case
// the footprints cannot share any area.
inline bool circles_disjoint(const Box3& a, const Box3& b) {
  const double ra = 0.5 * std::hypot(a.l, a.w);
  const double rb = 0.5 * std::hypot(b.l, b.w);
  const double dx = a.x - b.x, dy = a.y - b.y;
  const double r = ra + rb;
  return dx * dx + dy * dy >= r * r;
}

}  // namespace

OverlapKind overlap_kind_from_string(std::string_view name) {
  if (name == "iou_bev") return OverlapKind::kIouBev;
  if (name == "iou_3d") return OverlapKind::kIou3d;
  if (name == "giou_bev") return OverlapKind::kGiouBev;
  if (name == "giou_3d") return OverlapKind::kGiou3d;
  throw ConfigurationError("unknown box overlap kind '" + std::string(name) +
                           "': expected one of iou_bev, iou_3d, giou_bev, giou_3d");
}

const char* to_string(OverlapKind kind) {
  switch (kind) {
    case OverlapKind::kIouBev: return "iou_bev";
    case OverlapKind::kIou3d: return "iou_3d";
    case OverlapKind::kGiouBev: return "giou_bev";
    case OverlapKind::kGiou3d: return "giou_3d";
  }
  return "unknown";
}

std::array<Point2, 4> bev_corners(const Box3& b, Point2 origin) {
  const double c = std::cos(b.yaw), s = std::sin(b.yaw);
  const double cx = b.x - origin.x, cy = b.y - origin.y;
  const double hl = 0.5 * b.l, hw = 0.5 * b.w;
  // Local corners front-left, rear-left, rear-right, front-right: counter-clockwise, and a
  // rotation keeps them so.
  const double lx[4] = {hl, -hl, -hl, hl};
  const double ly[4] = {hw, hw, -hw, -hw};
  std::array<Point2, 4> out{};
  for (std::size_t i = 0; i < 4; ++i)
    out[i] = {cx + c * lx[i] - s * ly[i], cy + s * lx[i] + c * ly[i]};
  return out;
}

double polygon_area(const Point2* pts, int n) {
  if (n < 3) return 0.0;
  double twice = 0.0;
  for (int i = 1; i + 1 < n; ++i) twice += cross(pts[0], pts[i], pts[i + 1]);
  return 0.5 * twice;
}

Polygon clip_convex(const Point2* subject, int ns, const Point2* clip, int nc) {
  Polygon cur;
  for (int i = 0; i < ns; ++i) cur.push(subject[i]);
  std::array<double, Polygon::kCapacity> dist{};
  for (int e = 0; e < nc && cur.n >= 3; ++e) {
    const Point2& c0 = clip[e];
    const Point2& c1 = clip[(e + 1) % nc];
    if (c0.x == c1.x && c0.y == c1.y) continue;  // zero-length edge: no half-plane
    // Signed distance (times the edge length) to the edge's line; > 0 is the inner side.
    for (int k = 0; k < cur.n; ++k) dist[static_cast<std::size_t>(k)] = cross(c0, c1, cur.v[static_cast<std::size_t>(k)]);
    Polygon next;
    for (int k = 0; k < cur.n; ++k) {
      const int k1 = (k + 1) % cur.n;
      const Point2& p = cur.v[static_cast<std::size_t>(k)];
      const Point2& q = cur.v[static_cast<std::size_t>(k1)];
      const double dp = dist[static_cast<std::size_t>(k)], dq = dist[static_cast<std::size_t>(k1)];
      if (dp >= 0.0) next.push(p);
      // Strictly opposite signs: dp - dq cannot be 0 and t lies in (0, 1).
      if ((dp > 0.0 && dq < 0.0) || (dp < 0.0 && dq > 0.0)) {
        const double t = dp / (dp - dq);
        next.push({p.x + t * (q.x - p.x), p.y + t * (q.y - p.y)});
      }
    }
    cur = next;
  }
  if (cur.n < 3) cur.n = 0;
  return cur;
}

double convex_hull_area(const Point2* pts, int n) {
  constexpr int kMax = 16;
  if (n < 3) return 0.0;
  n = std::min(n, kMax);
  std::array<Point2, kMax> p{};
  std::copy(pts, pts + n, p.begin());
  std::sort(p.begin(), p.begin() + n,
            [](const Point2& u, const Point2& v) { return u.x < v.x || (u.x == v.x && u.y < v.y); });
  std::array<Point2, 2 * kMax> hull{};
  int k = 0;
  auto h = [&hull](int i) -> Point2& { return hull[static_cast<std::size_t>(i)]; };
  for (int i = 0; i < n; ++i) {  // lower hull
    while (k >= 2 && cross(h(k - 2), h(k - 1), p[static_cast<std::size_t>(i)]) <= 0.0) --k;
    h(k++) = p[static_cast<std::size_t>(i)];
  }
  for (int i = n - 2, lower = k + 1; i >= 0; --i) {  // upper hull
    while (k >= lower && cross(h(k - 2), h(k - 1), p[static_cast<std::size_t>(i)]) <= 0.0) --k;
    h(k++) = p[static_cast<std::size_t>(i)];
  }
  return std::max(0.0, polygon_area(hull.data(), k - 1));  // last point repeats the first
}

void validate_box(const Box3& b, const char* what, Index index, std::string_view context) {
  const double v[kBoxDim] = {b.x, b.y, b.z, b.yaw, b.l, b.w, b.h};
  // Finite and at most kMaxBoxCoordinate in magnitude: areas, volumes and hulls of such boxes
  // (products of up to three coordinates) cannot overflow to inf (which made IoU 0).
  constexpr double kMaxBoxCoordinate = 1e100;
  bool finite = true, in_range = true;
  for (double x : v) {
    finite = finite && std::isfinite(x);
    in_range = in_range && std::abs(x) <= kMaxBoxCoordinate;
  }
  const bool sizes_ok = b.l >= 0.0 && b.w >= 0.0 && b.h >= 0.0;
  if (finite && sizes_ok && in_range) return;
  std::ostringstream os;
  if (!context.empty()) os << context << ": ";
  os << "box " << what;
  if (index >= 0) os << "[" << index << "]";
  os << (!finite ? " has a non-finite value" : !sizes_ok ? " has a negative size" : " has a value beyond 1e100 m (its area or volume would overflow)")
     << ": (x, y, z, yaw, l, w, h) = (";
  for (int i = 0; i < kBoxDim; ++i) os << (i ? ", " : "") << v[i];
  os << ")";
  throw NumericalError(os.str());
}

double box_overlap_unchecked(OverlapKind kind, const Box3& a, const Box3& b) {
  // Exact 1 for identical non-degenerate boxes rather than 1 - rounding.
  if (same_box(a, b)) {
    const double size = (kind == OverlapKind::kIouBev || kind == OverlapKind::kGiouBev)
                            ? a.bev_area()
                            : a.volume();
    return size > 0.0 ? 1.0 : 0.0;
  }
  switch (kind) {
    case OverlapKind::kIouBev: return iou_bev_impl(a, b);
    case OverlapKind::kIou3d: return iou_3d_impl(a, b);
    case OverlapKind::kGiouBev: return giou_bev_impl(a, b);
    case OverlapKind::kGiou3d: return giou_3d_impl(a, b);
  }
  return 0.0;
}

double box_overlap(OverlapKind kind, const Box3& a, const Box3& b) {
  validate_box(a, "a", -1, to_string(kind));
  validate_box(b, "b", -1, to_string(kind));
  return box_overlap_unchecked(kind, a, b);
}

double iou_bev(const Box3& a, const Box3& b) { return box_overlap(OverlapKind::kIouBev, a, b); }
double iou_3d(const Box3& a, const Box3& b) { return box_overlap(OverlapKind::kIou3d, a, b); }
double giou_bev(const Box3& a, const Box3& b) { return box_overlap(OverlapKind::kGiouBev, a, b); }
double giou_3d(const Box3& a, const Box3& b) { return box_overlap(OverlapKind::kGiou3d, a, b); }

void pairwise_overlap(OverlapKind kind, const double* a, Index n, const double* b, Index m,
                      double* out, bool skip_disjoint) {
  for (Index i = 0; i < n; ++i) validate_box(Box3::from_array(a + i * kBoxDim), "a", i, to_string(kind));
  for (Index j = 0; j < m; ++j) validate_box(Box3::from_array(b + j * kBoxDim), "b", j, to_string(kind));
  const bool skip = skip_disjoint && !is_giou(kind);
  for (Index i = 0; i < n; ++i) {
    const Box3 bi = Box3::from_array(a + i * kBoxDim);
    double* row = out + i * m;
    for (Index j = 0; j < m; ++j) {
      const Box3 bj = Box3::from_array(b + j * kBoxDim);
      row[j] = (skip && circles_disjoint(bi, bj)) ? 0.0 : box_overlap_unchecked(kind, bi, bj);
    }
  }
}

void pairwise_iou(std::string_view kind, const double* a, Index n, const double* b, Index m,
                  double* out, bool skip_disjoint) {
  pairwise_overlap(overlap_kind_from_string(kind), a, n, b, m, out, skip_disjoint);
}

}  // namespace fusion::geometry
