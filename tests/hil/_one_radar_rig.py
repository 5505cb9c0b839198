"""A one-radar rig for the harness tests: a DBC with one object slot (OBJ_0: X, Y, RR) and a
rig that feeds it to the engine as a radar (shared by test_hil_replay_cli and test_hil_review5)."""

DBC = """VERSION ""
BU_: R
BO_ 256 OBJ_0: 8 R
 SG_ X : 0|16@1+ (0.01,0) [0|655.35] "m" R
 SG_ Y : 16|16@1- (0.01,0) [-327.68|327.67] "m" R
 SG_ RR : 32|16@1- (0.01,0) [-327.68|327.67] "m/s" R
"""

RIG = """
[channels]
"0" = "radar"
[engine]
motion = "cv_point2d"
[sensors.radar]
bus = "radar"
dbc = "sensors.dbc"
decoder = "dbc_object_list"
[sensors.radar.decoder_config]
slots = { messages = ["OBJ_0"] }
polar_from_xy = true
fields = { x = "X", y = "Y", range_rate = "RR" }
[sensors.radar.engine]
model = "radar"
[output]
bev = false
"""
