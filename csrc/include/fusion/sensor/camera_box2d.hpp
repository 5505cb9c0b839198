// CameraBox2D: the image box (x1, y1, x2, y2) [px] of a 3D box, as a 2D camera detector
// (RRC, YOLO, ...) reports it: the tightest axis-aligned rectangle around the box.
//
//   corners   c_k = p + Rz(yaw) (sx l/2, sy w/2, 0) + (0, 0, sz h/2),   s* in {-1, +1}, k = 0..7
//   camera    o_k = B R^T (c_k - t)         optical frame (pinhole.hpp: B, then mount)
//   pixels    (u_k, v_k) = project(o_k)     through the 3x4 projection P
//   box       x1 = min u_k, y1 = min v_k, x2 = max u_k, y2 = max v_k
//
// Jacobian by the chain rule through the corner that attains each min/max (an extreme corner
// moves the box edge; the others do not):
//   d x1 / d view = d u_k* / d view = J_k B R^T (d c_k / d view),     k* = argmin u_k,
// with d c_k / d(p) = I, d c_k / d yaw = Rz'(yaw) (sx l/2, sy w/2, 0),
//      d c_k / d l = (sx/2) (cos yaw, sin yaw, 0), d c_k / d w = (sy/2) (-sin yaw, cos yaw, 0),
//      d c_k / d h = (0, 0, sz/2).
// Where two corners tie for an extreme the box edge has a kink (e.g. a box seen exactly
// head-on, yaw = 0, for the yaw derivative of the top edge); the Jacobian is then the one-sided
// derivative of the first of them, which is what an EKF can do at a kink.
//
// Behind the camera: h is UNDEFINED (false) when ANY corner has a depth <= min_depth_m.
// Projecting only the visible part would need the box clipped by the near plane (new vertices
// on the edges, a different Jacobian); a box that straddles the camera plane is a car right
// alongside, truncated at the image border where a detector's box is unreliable anyway, and
// the lidar or radar covers it. Not clipping keeps h smooth wherever it is defined.
//
// Image bounds (optional, width/height > 0): the box is clipped to [0, W] x [0, H] as a
// detector's box is; a clipped edge is constant, so its Jacobian row is zero. A box entirely
// outside the image (zero width or height after clipping) is undefined (false). With bounds 0
// (the default) the box is not clipped: then it may extend beyond the image.
//
// No inverse: a 2D box gives a bearing and a size in pixels but no range.
#pragma once
#include <array>
#include <cmath>
#include <string>

#include "fusion/core/errors.hpp"
#include "fusion/core/types.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/sensor/pinhole.hpp"
#include "fusion/sensor/sensor_model.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion::sensor {

class CameraBox2D {
 public:
  static constexpr int M = 4;
  enum Idx : int { X1 = 0, Y1 = 1, X2 = 2, Y2 = 3 };
  static constexpr std::array<bool, M> kAngles{};
  static constexpr bool kLinear = false;
  static constexpr view::Mask kReads = view::kPosition | view::kHeading | view::kExtent;
  static constexpr bool kUsesSensorMotion = false;
  static constexpr bool kHasInverse = false;

  // image_width_px, image_height_px: clip to the image if > 0 (KITTI: 1242 x 375).
  explicit CameraBox2D(const PinholeProjection& projection, double image_width_px = 0.0,
                       double image_height_px = 0.0)
      : proj_(projection), width_px_(image_width_px), height_px_(image_height_px) {
    if (!(width_px_ >= 0.0 && std::isfinite(width_px_) && height_px_ >= 0.0 &&
          std::isfinite(height_px_)))
      throw ConfigurationError("CameraBox2D: image width and height must be finite and >= 0 "
                               "(0: no clipping), got " + std::to_string(width_px_) + " x " +
                               std::to_string(height_px_));
  }

  const PinholeProjection& projection() const { return proj_; }
  double image_width_px() const { return width_px_; }
  double image_height_px() const { return height_px_; }

  template <class Out>
  bool h(const ViewVec& v, const SensorMount& mount, Out&& z) const {
    Vec<M> zz;
    if (!evaluate(v, mount, zz, nullptr)) return false;
    for (int i = 0; i < M; ++i) z(i) = zz(i);
    return true;
  }

  bool h(const ViewVec& v, const SensorMount& mount, Vec<M>& z, Mat<M, kViewDim>& H) const {
    return evaluate(v, mount, z, &H);
  }

  static Vec<M> residual(const Vec<M>& z, const Vec<M>& zhat) { return z - zhat; }

 private:
  static constexpr int kCorners = 8;

  // Signs (sx, sy, sz) of corner k: bit 0 along the length, bit 1 across, bit 2 up.
  static double sign(int k, int bit) { return (k >> bit) & 1 ? 1.0 : -1.0; }

  bool evaluate(const ViewVec& v, const SensorMount& mount, Vec<M>& z,
                Mat<M, kViewDim>* H) const {
    const double yaw = v(view::YAW), c = std::cos(yaw), s = std::sin(yaw);
    const double hl = 0.5 * v(view::LENGTH), hw = 0.5 * v(view::WIDTH), hh = 0.5 * v(view::HEIGHT);
    const Mat<3, 3> C = optical_from_body() * mount.rotation().transpose();  // parent -> optical
    const Vec<3> centre = v.segment<3>(view::PX) - mount.translation_m();

    std::array<Vec<2>, kCorners> uv;
    std::array<Vec<3>, kCorners> o;
    for (int k = 0; k < kCorners; ++k) {
      const double ox = sign(k, 0) * hl, oy = sign(k, 1) * hw, oz = sign(k, 2) * hh;
      const Vec<3> ck(c * ox - s * oy, s * ox + c * oy, oz);  // corner offset, parent frame
      o[k] = C * (centre + ck);
      if (!proj_.project(o[k], uv[k])) return false;  // a corner at or behind the near plane
    }
    // Extreme corners: x1 = min u, y1 = min v, x2 = max u, y2 = max v.
    std::array<int, M> arg{0, 0, 0, 0};
    for (int k = 1; k < kCorners; ++k) {
      if (uv[k](0) < uv[arg[X1]](0)) arg[X1] = k;
      if (uv[k](1) < uv[arg[Y1]](1)) arg[Y1] = k;
      if (uv[k](0) > uv[arg[X2]](0)) arg[X2] = k;
      if (uv[k](1) > uv[arg[Y2]](1)) arg[Y2] = k;
    }
    constexpr std::array<int, M> kAxis{0, 1, 0, 1};  // u or v for each component
    for (int i = 0; i < M; ++i) z(i) = uv[arg[i]](kAxis[i]);

    std::array<bool, M> clipped{false, false, false, false};
    if (!clip(z, clipped)) return false;
    if (H == nullptr) return true;

    H->setZero();
    for (int i = 0; i < M; ++i) {
      if (clipped[i]) continue;  // a clipped edge does not move
      const int k = arg[i];
      Vec<2> uvk;
      Mat<2, 3> Jp;
      proj_.project(o[k], uvk, Jp);
      const Eigen::Matrix<double, 1, 3> g = Jp.row(kAxis[i]) * C;  // d pixel / d corner (parent)
      const double sx = sign(k, 0), sy = sign(k, 1), sz = sign(k, 2);
      H->block<1, 3>(i, view::PX) = g;
      H->coeffRef(i, view::YAW) = g.dot(Vec<3>(-s * sx * hl - c * sy * hw, c * sx * hl - s * sy * hw, 0.0));
      H->coeffRef(i, view::LENGTH) = 0.5 * sx * g.dot(Vec<3>(c, s, 0.0));
      H->coeffRef(i, view::WIDTH) = 0.5 * sy * g.dot(Vec<3>(-s, c, 0.0));
      H->coeffRef(i, view::HEIGHT) = 0.5 * sz * g(2);
    }
    return true;
  }

  // Clip to the image if bounds are set; false if nothing of the box remains inside.
  bool clip(Vec<M>& z, std::array<bool, M>& clipped) const {
    const auto clamp = [&](int i, double hi) {
      if (z(i) < 0.0) {
        z(i) = 0.0;
        clipped[i] = true;
      } else if (z(i) > hi) {
        z(i) = hi;
        clipped[i] = true;
      }
    };
    if (width_px_ > 0.0) {
      clamp(X1, width_px_);
      clamp(X2, width_px_);
      if (!(z(X2) > z(X1))) return false;
    }
    if (height_px_ > 0.0) {
      clamp(Y1, height_px_);
      clamp(Y2, height_px_);
      if (!(z(Y2) > z(Y1))) return false;
    }
    return true;
  }

  PinholeProjection proj_;
  double width_px_ = 0.0, height_px_ = 0.0;
};

}  // namespace fusion::sensor
