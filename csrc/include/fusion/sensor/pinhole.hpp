// Pinhole projection shared by the camera models (camera_box2d.hpp, camera_point.hpp).
//
// Frames. A camera's mount, like every mount, is its BODY frame (x forward along the optical
// axis, y left, z up; see mount.hpp). Projection matrices work in the OPTICAL frame (x right,
// y down, z forward), a fixed rotation of the body frame:
//
//     o = B p_body,   B = [ 0 -1  0 ]     (optical x = -body y, optical y = -body z,
//                         [ 0  0 -1 ]      optical z =  body x)
//                         [ 1  0  0 ]
//
// Projection. A 3x4 matrix P (KITTI's P2: intrinsics times [I | b], where b is the offset from
// the rectified camera-0 frame to camera 2) maps an optical-frame point o [m] to pixels:
//
//     (a, b, s) = P [o; 1],    u = a / s,   v = b / s,
//     d(u, v)/do = [P_0 - u P_2; P_1 - v P_2]_{:, 0:3} / s.
//
// P is normalised on construction so that its third row's left part has unit norm (a common
// scale does not change the projection); s is then the metric depth of the point along the
// camera axis (for KITTI's P2, the depth in camera 2, 2.7 mm off camera 0's). A point is
// projectable only if s > min_depth_m; nearer or behind the camera, projection is undefined.
//
// KITTI: P2 projects RECTIFIED camera-0 coordinates, p_rect = R0_rect (Tr_velo_to_cam p_velo),
// so with the velodyne frame as the vehicle frame the camera mount is
//     camera_mount_from_optical_extrinsic([R0_rect R | R0_rect t])   where Tr_velo_to_cam = [R | t]
// and the projection is PinholeProjection(P2).
#pragma once
#include "fusion/core/types.hpp"
#include "fusion/sensor/mount.hpp"

namespace fusion::sensor {

// B above: optical-frame coordinates of a body-frame vector.
inline Mat<3, 3> optical_from_body() {
  Mat<3, 3> B;
  B << 0, -1, 0,  //
      0, 0, -1,   //
      1, 0, 0;
  return B;
}

class PinholeProjection {
 public:
  // Throws ConfigurationError unless P is finite with det(P[:, 0:3]) > 0 (points in front of
  // the camera get a positive depth), and min_depth_m is finite and > 0.
  explicit PinholeProjection(const Mat<3, 4>& P, double min_depth_m = 0.1);

  const Mat<3, 4>& P() const { return P_; }  // normalised
  double min_depth_m() const { return min_depth_m_; }

  // Pixel (u, v) of an optical-frame point; false if its depth is <= min_depth_m.
  template <class Out>
  bool project(const Vec<3>& o, Out&& uv) const {
    const Vec<3> hom = P_.leftCols<3>() * o + P_.col(3);  // (a, b, s)
    if (!(hom(2) > min_depth_m_)) return false;           // also false for NaN
    uv(0) = hom(0) / hom(2);
    uv(1) = hom(1) / hom(2);
    return true;
  }

  // The same, and J = d(u, v) / d o.
  bool project(const Vec<3>& o, Vec<2>& uv, Mat<2, 3>& J) const {
    if (!project(o, uv)) return false;
    const double s = P_.row(2).head<3>().dot(o) + P_(2, 3);
    J.row(0) = (P_.row(0).head<3>() - uv(0) * P_.row(2).head<3>()) / s;
    J.row(1) = (P_.row(1).head<3>() - uv(1) * P_.row(2).head<3>()) / s;
    return true;
  }

 private:
  Mat<3, 4> P_;
  double min_depth_m_;
};

// The camera's (body-frame) mount from a 3x4 extrinsic mapping parent coordinates into the
// camera's OPTICAL frame (o = A p + b), e.g. KITTI's R0_rect * Tr_velo_to_cam.
SensorMount camera_mount_from_optical_extrinsic(const Mat<3, 4>& T_optical_from_parent,
                                                const FieldOfView& fov = {});

}  // namespace fusion::sensor
