//! The active liveness challenge: the head movements a customer is asked to make. The
//! liveness check measures them; the load test's simulated customers perform them.

use serde::{Deserialize, Serialize};

/// One head movement (signs as the face detector's image coordinates see them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// The person turns to their left: the nose moves towards the image's right (+yaw).
    TurnLeft,
    /// The person turns to their right: the nose moves towards the image's left (−yaw).
    TurnRight,
    /// The nose tip moves up in the image, towards the eyes (−pitch).
    LookUp,
    /// The nose tip moves down in the image, towards the mouth (+pitch).
    LookDown,
}

/// How the customer did on one move of a challenge (the liveness check's finding, kept in the
/// face step's attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MoveResult {
    #[serde(rename = "move")]
    pub mv: Move,
    pub done: bool,
    /// Index of the frame where the move reached its threshold.
    pub frame: Option<usize>,
    /// The largest change in the asked direction seen while it was expected.
    pub peak: f32,
}

impl Move {
    pub const ALL: [Move; 4] = [
        Move::TurnLeft,
        Move::TurnRight,
        Move::LookUp,
        Move::LookDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Move::TurnLeft => "turn_left",
            Move::TurnRight => "turn_right",
            Move::LookUp => "look_up",
            Move::LookDown => "look_down",
        }
    }

    /// `(yaw, pitch)` of this move at the given amplitude (radians, ≥ 0).
    pub fn angles(self, amplitude_rad: f32) -> (f32, f32) {
        match self {
            Move::TurnLeft => (amplitude_rad, 0.0),
            Move::TurnRight => (-amplitude_rad, 0.0),
            Move::LookUp => (0.0, -amplitude_rad),
            Move::LookDown => (0.0, amplitude_rad),
        }
    }
}
