// Overlap of oriented 3D boxes: IoU and generalised IoU, in bird's-eye view (BEV) and in 3D.
//
// Box convention, used everywhere in fusion (the KITTI loader converts its camera-frame boxes
// to it):
//
//     (x, y, z, yaw, l, w, h)     metres and radians, z up
//
//   - (x, y, z) is the box CENTRE (not the bottom face, unlike KITTI's camera frame);
//   - yaw is the heading of the length axis, counter-clockwise from +x about +z;
//   - l is the extent along the heading, w across it, h vertical. Sizes must be >= 0.
//
// The BEV footprint is the rectangle l x w rotated by yaw; boxes never roll or pitch, so the
// 3D intersection is the footprint intersection times the overlap of the vertical extents.
//
// Generalised IoU (Rezatofighi et al. 2019): GIoU = IoU - (C - U) / C, where U is the union and
// C the smallest enclosing convex region. In BEV, C is the convex hull of the 8 footprint
// corners; in 3D, C is that hull area times the vertical enclosing extent (the definition of
// AB3DMOT's giou3d). IoU is in [0, 1], GIoU in [-1, 1].
//
// Degenerate boxes (zero area footprint, or zero volume for the 3D measures) overlap nothing:
// IoU is 0, and GIoU is 0 when the enclosing region has no area either, so no NaN escapes.
// Non-finite values and negative sizes throw NumericalError naming the offending box.
//
// None of the per-pair functions allocates: polygons live in fixed-size buffers.
#pragma once
#include <array>
#include <string>
#include <string_view>

#include "fusion/core/types.hpp"

namespace fusion::geometry {

inline constexpr int kBoxDim = 7;  // (x, y, z, yaw, l, w, h)

struct Box3 {
  double x = 0.0, y = 0.0, z = 0.0, yaw = 0.0, l = 0.0, w = 0.0, h = 0.0;

  // Reads the 7 values (x, y, z, yaw, l, w, h) starting at p.
  static Box3 from_array(const double* p) { return {p[0], p[1], p[2], p[3], p[4], p[5], p[6]}; }
  double bev_area() const { return l * w; }
  double volume() const { return l * w * h; }
};

struct Point2 {
  double x = 0.0, y = 0.0;
};

// A convex polygon in a fixed buffer. Two convex quadrilaterals intersect in at most 8
// vertices; the buffer is twice that so that rounding on nearly collinear vertices can never
// overflow it (extra points are dropped, which cannot happen with exact arithmetic).
struct Polygon {
  static constexpr int kMaxVertices = 8;
  static constexpr int kCapacity = 2 * kMaxVertices;
  std::array<Point2, kCapacity> v{};
  int n = 0;

  void push(const Point2& p) {
    if (n < kCapacity) v[static_cast<std::size_t>(n++)] = p;
  }
};

enum class OverlapKind { kIouBev, kIou3d, kGiouBev, kGiou3d };

// "iou_bev", "iou_3d", "giou_bev", "giou_3d"; anything else throws ConfigurationError.
OverlapKind overlap_kind_from_string(std::string_view name);
const char* to_string(OverlapKind kind);
inline bool is_giou(OverlapKind kind) {
  return kind == OverlapKind::kGiouBev || kind == OverlapKind::kGiou3d;
}

// The 4 footprint corners in counter-clockwise order, relative to `origin` (subtracting a
// nearby origin first keeps the products in the area computations small and exact-ish).
std::array<Point2, 4> bev_corners(const Box3& b, Point2 origin = {});

// Signed area of a simple polygon (positive when counter-clockwise), by the shoelace formula
// taken relative to the first vertex.
double polygon_area(const Point2* pts, int n);

// Sutherland-Hodgman: clips the convex polygon `subject` by the convex, counter-clockwise
// polygon `clip`. The result is convex and counter-clockwise (possibly empty, n < 3).
// Points on a clip edge count as inside, so touching polygons give a zero-area sliver.
Polygon clip_convex(const Point2* subject, int ns, const Point2* clip, int nc);

// Area of the convex hull of n <= 16 points (Andrew's monotone chain, no allocation).
double convex_hull_area(const Point2* pts, int n);

// Throws NumericalError when a value is not finite or a size is negative. The message reads
// "<context>: box <what>[<index>] has ..." (no index when index < 0, no prefix when context
// is empty).
void validate_box(const Box3& b, const char* what, Index index = -1, std::string_view context = {});

// Single pairs. These validate both boxes (names "a" and "b" in the messages).
double iou_bev(const Box3& a, const Box3& b);
double iou_3d(const Box3& a, const Box3& b);
double giou_bev(const Box3& a, const Box3& b);
double giou_3d(const Box3& a, const Box3& b);
double box_overlap(OverlapKind kind, const Box3& a, const Box3& b);

// Same as the above without validation, for callers that validated already.
double box_overlap_unchecked(OverlapKind kind, const Box3& a, const Box3& b);

// Fills the n x m row-major `out` with box_overlap(kind, a[i], b[j]); a is n x 7 and b is
// m x 7, both row-major. Every box is validated first (messages name "a[i]" or "b[j]"), so
// nothing is written when an input is invalid.
// With skip_disjoint, IoU kinds skip pairs whose circumscribed footprint circles do not
// overlap (their IoU is exactly 0); GIoU is never skipped because it stays informative
// (negative) for disjoint boxes.
void pairwise_overlap(OverlapKind kind, const double* a, Index n, const double* b, Index m,
                      double* out, bool skip_disjoint = true);

// Named entry point of the tracker issue: kind is "iou_bev", "iou_3d", "giou_bev" or "giou_3d".
void pairwise_iou(std::string_view kind, const double* a, Index n, const double* b, Index m,
                  double* out, bool skip_disjoint = true);

}  // namespace fusion::geometry
