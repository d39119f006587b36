//! Who may call what: bearer parsing, token verification and the role matrix.
//!
//! | operations | clerk | admin |
//! |---|---|---|
//! | create/get/cancel session, list/get devices, list/get locations | ✓ | ✓ |
//! | enrollments (list/create/delete), device update/delete/register, location create/update/delete | | ✓ |
//! | `/ipp/v1/dev/*` (only when not production) | ✓ | ✓ |

use kipp_core::api::OperationId;
use kipp_core::problem::Problem;
use kipp_core::token::{self, Claims, Role, TokenError, TokenKey};

/// Extracts the token from `Authorization: Bearer <token>` (scheme case-insensitive).
#[must_use]
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim()).filter(|t| !t.is_empty())
}

/// Verifies a token and checks it against the revocation list.
pub fn authenticate(
    key: &TokenKey,
    token: Option<&str>,
    now: i64,
    is_revoked: impl Fn(&str) -> bool,
) -> Result<Claims, Problem> {
    let Some(token) = token else {
        return Err(Problem::new(401, "unauthorized", "Unauthorized", "send Authorization: Bearer <kipp token>"));
    };
    let claims = token::verify(key, token, now).map_err(|e| {
        let detail = match e {
            TokenError::Expired => "the token has expired",
            TokenError::NotYetValid => "the token is not valid yet",
            _ => "the token is not valid",
        };
        Problem::new(401, e.code(), "Unauthorized", detail)
    })?;
    if claims.is_revoked(is_revoked) {
        return Err(Problem::new(
            401,
            "token_revoked",
            "Unauthorized",
            "the token, or one that issued it, has been revoked",
        ));
    }
    Ok(claims)
}

/// True if operations of this kind need an admin token.
#[must_use]
pub fn admin_only(op: OperationId) -> bool {
    use OperationId as O;
    matches!(
        op,
        O::ListEnrollments
            | O::CreateEnrollment
            | O::DeleteEnrollment
            | O::UpdateDevice
            | O::DeleteDevice
            | O::RegisterDevice
            | O::CreateLocation
            | O::UpdateLocation
            | O::DeleteLocation
    )
}

/// The role check (location scope is checked separately, per operation).
pub fn authorize(op: OperationId, role: Role, playground: bool) -> Result<(), Problem> {
    if op.is_testing() && !playground {
        // Kustom answers 404 for /dev in production; so does the worker.
        return Err(Problem::new(404, "not_found", "Not Found", "testing endpoints exist only in the playground"));
    }
    if admin_only(op) && role != Role::Admin {
        return Err(forbidden("this operation needs an admin token"));
    }
    Ok(())
}

/// A 403 problem.
#[must_use]
pub fn forbidden(detail: &str) -> Problem {
    Problem::new(403, "forbidden", "Forbidden", detail)
}

/// The 403 for a location-scoped token reaching outside its location.
#[must_use]
pub fn wrong_location() -> Problem {
    Problem::new(403, "location_forbidden", "Forbidden", "the token is limited to another location")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::config;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn auth_statuses() {
        let c = config();
        let claims = Claims::new(Role::Clerk, None, 1000, 60, [1; 16]);
        let t = token::mint(&c.token_key, &claims).unwrap();
        assert_eq!(authenticate(&c.token_key, None, 1000, |_| false).unwrap_err().status, Some(401));
        assert!(authenticate(&c.token_key, Some(&t), 1000, |_| false).is_ok());
        let e = authenticate(&c.token_key, Some(&t), 1060, |_| false).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("token_expired"));
        let e = authenticate(&c.token_key, Some(&t), 1000, |j| j == claims.jti).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("token_revoked"));
        let tampered = format!("{}x", &t[..t.len() - 1]);
        assert_eq!(authenticate(&c.token_key, Some(&tampered), 1000, |_| false).unwrap_err().status, Some(401));
    }

    #[test]
    fn role_matrix() {
        for &op in OperationId::ALL {
            let clerk = authorize(op, Role::Clerk, true);
            let admin = authorize(op, Role::Admin, true);
            assert!(admin.is_ok(), "{op:?}");
            assert_eq!(clerk.is_ok(), !admin_only(op), "{op:?}");
            if op.is_testing() {
                assert_eq!(authorize(op, Role::Admin, false).unwrap_err().status, Some(404));
            }
        }
        assert_eq!(authorize(OperationId::CreateEnrollment, Role::Clerk, true).unwrap_err().status, Some(403));
        assert!(authorize(OperationId::CreateSession, Role::Clerk, false).is_ok());
    }
}
