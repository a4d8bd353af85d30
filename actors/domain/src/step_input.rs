//! The inputs of the steps, checked once where they arrive (a `parse` that returns a
//! `Result`, as `PersonName` does for a session): the HTTP edge builds these from a request
//! body and answers an [`InvalidStepInput`] with 422 `validation_failed` and its message;
//! the case actor takes them as they are. Only the rules that need nothing but the input
//! (and the configured consent versions or questions) live here; whether a capture exists
//! is the edge's to find out.

/// A step input that breaks a rule; the message names the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidStepInput(pub String);

fn invalid(msg: impl Into<String>) -> InvalidStepInput {
    InvalidStepInput(msg.into())
}

/// A one-time code as the customer entered it: at most 12 characters, digits once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// Exactly `digits` ASCII digits (spaces around are dropped): an empty or short code is
    /// refused rather than spent as a wrong try.
    pub fn parse(code: String, digits: u32) -> Result<Self, InvalidStepInput> {
        let code = code.trim();
        if code.len() != digits as usize || !code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(invalid(format!("code: exactly {digits} digits")));
        }
        Ok(Self(code.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the browser says the customer is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub latitude: f64,
    pub longitude: f64,
    /// The accuracy radius in metres, when the browser gave one.
    pub accuracy_m: Option<f64>,
}

impl Position {
    /// Latitude within ±90°, longitude within ±180°, accuracy 0 to 10 000 km.
    pub fn new(
        latitude: f64,
        longitude: f64,
        accuracy_m: Option<f64>,
    ) -> Result<Self, InvalidStepInput> {
        if !(-90.0..=90.0).contains(&latitude)
            || !(-180.0..=180.0).contains(&longitude)
            || accuracy_m.is_some_and(|a| !(0.0..=1e7).contains(&a))
        {
            return Err(invalid(
                "latitude within ±90, longitude within ±180, accuracy_m ≥ 0",
            ));
        }
        Ok(Self {
            latitude,
            longitude,
            accuracy_m,
        })
    }
}

/// Why the browser gave no position (its error text): at most 100 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPosition(String);

impl NoPosition {
    pub fn parse(error: String) -> Result<Self, InvalidStepInput> {
        if error.len() > 100 {
            return Err(invalid("error: at most 100 characters"));
        }
        Ok(Self(error))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The consent text version the customer saw: one of the configured versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentVersion(String);

impl ConsentVersion {
    pub fn parse(text_version: String, versions: &[String]) -> Result<Self, InvalidStepInput> {
        if !versions.contains(&text_version) {
            return Err(invalid(format!("text_version: not one of {versions:?}")));
        }
        Ok(Self(text_version))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The answers an agent records, `(question id, value)`: at least one, each to a configured
/// question (`is_question`), each value at most 1000 characters.
pub fn check_answers<'a>(
    answers: impl IntoIterator<Item = (&'a str, &'a str)>,
    is_question: impl Fn(&str) -> bool,
) -> Result<(), InvalidStepInput> {
    let mut any = false;
    for (id, value) in answers {
        any = true;
        if !is_question(id) {
            return Err(invalid(format!("answers: no question {id:?}")));
        }
        if value.chars().count() > 1000 {
            return Err(invalid("answers: at most 1000 characters each"));
        }
    }
    if !any {
        return Err(invalid("answers: at least one"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules and their messages, as the API has answered them (422 `validation_failed`).
    #[test]
    fn inputs_are_checked_once_with_the_api_messages() {
        assert_eq!(
            OtpCode::parse(" 123456 ".into(), 6).map(|c| c.as_str().to_string()),
            Ok("123456".into())
        );
        for bad in [
            "12a456",
            "1234567",
            "12345",
            "",
            "   ",
            "12 456",
            "１２３４５６",
        ] {
            assert_eq!(
                OtpCode::parse(bad.into(), 6),
                Err(InvalidStepInput("code: exactly 6 digits".into())),
                "{bad:?}"
            );
        }

        assert!(Position::new(19.07, 72.88, Some(25.0)).is_ok());
        assert!(Position::new(-90.0, 180.0, None).is_ok());
        for (lat, lon, acc) in [
            (90.5, 0.0, None),
            (0.0, -180.5, None),
            (0.0, 0.0, Some(-1.0)),
            (0.0, 0.0, Some(2e7)),
        ] {
            assert_eq!(
                Position::new(lat, lon, acc).unwrap_err().0,
                "latitude within ±90, longitude within ±180, accuracy_m ≥ 0"
            );
        }
        assert_eq!(
            NoPosition::parse("permission denied".into()).map(NoPosition::into_string),
            Ok("permission denied".into())
        );
        assert_eq!(
            NoPosition::parse("x".repeat(101)).unwrap_err().0,
            "error: at most 100 characters"
        );

        let versions = vec!["v1".to_string(), "v2".to_string()];
        assert_eq!(
            ConsentVersion::parse("v2".into(), &versions).map(ConsentVersion::into_string),
            Ok("v2".into())
        );
        assert_eq!(
            ConsentVersion::parse("v3".into(), &versions).unwrap_err().0,
            r#"text_version: not one of ["v1", "v2"]"#
        );

        let known = |id: &str| ["purpose", "address"].contains(&id);
        assert!(check_answers([("purpose", "Home repair")], known).is_ok());
        assert_eq!(
            check_answers([], known).unwrap_err().0,
            "answers: at least one"
        );
        assert_eq!(
            check_answers([("purpose", "x"), ("age", "40")], known)
                .unwrap_err()
                .0,
            r#"answers: no question "age""#
        );
        let long = "é".repeat(1001);
        assert_eq!(
            check_answers([("address", long.as_str())], known)
                .unwrap_err()
                .0,
            "answers: at most 1000 characters each"
        );
        assert!(
            check_answers([("address", &long[2..])], known).is_ok(),
            "1000 characters, 2000 bytes"
        );
    }
}
