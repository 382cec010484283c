//! The identity services (`SessionService`, `ConsentService`,
//! `ClientRegistrationService`) act on a browser's behalf: they open sessions
//! for a username and password, record consent for a signed-in user, and
//! believe the `remote_address` the sign-in limits count by. Only Steward's
//! own HTTP façade may call them, so each is wrapped in [`FacadeOnly`]: the
//! façade attaches a shared credential ([`with_credential`]) to every call it
//! makes, and a call without it is refused before it reaches the service.
//!
//! In one process (`--role all`) the credential is minted at start-up and
//! never leaves the process; split deployments set the same `facade_token`
//! on the core and the façade.

use tonic::service::Interceptor;
use tonic::{Request, Status};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use super::Transport;
use crate::config::Secret;
use crate::domain::secret::SharedSecretDigest;

/// The gRPC metadata (HTTP/2 header) that carries the façade's credential.
pub const CREDENTIAL_HEADER: &str = "x-steward-facade-credential";

/// Admits only calls that carry the façade's credential.
#[derive(Clone)]
pub struct FacadeOnly {
    /// The credential; `None` refuses every call (a core started without
    /// `facade_token` serves no façade).
    expected: Option<SharedSecretDigest>,
}

impl FacadeOnly {
    /// Admits callers presenting `credential`; with `None`, nobody.
    pub fn new(credential: Option<&Secret>) -> FacadeOnly {
        FacadeOnly {
            expected: credential.map(|c| SharedSecretDigest::of(c.expose())),
        }
    }
}

impl Interceptor for FacadeOnly {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Err(Status::permission_denied(
                "this service answers only Steward's HTTP façade, and this core has no facade_token",
            ));
        };
        let presented = request
            .metadata()
            .get(CREDENTIAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if expected.matches(presented) {
            Ok(request)
        } else {
            Err(Status::permission_denied(
                "this service answers only Steward's HTTP façade",
            ))
        }
    }
}

/// `transport` with the façade's credential on every call.
pub fn with_credential(transport: Transport, credential: &Secret) -> Transport {
    let value = http::HeaderValue::from_str(credential.expose()).ok();
    BoxCloneSyncService::new(transport.map_request(
        move |mut request: http::Request<tonic::body::Body>| {
            if let Some(value) = &value {
                request
                    .headers_mut()
                    .insert(CREDENTIAL_HEADER, value.clone());
            }
            request
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(guard: &mut FacadeOnly, presented: Option<&str>) -> Result<(), tonic::Code> {
        let mut request = Request::new(());
        if let Some(value) = presented {
            request
                .metadata_mut()
                .insert(CREDENTIAL_HEADER, value.parse().unwrap());
        }
        guard.call(request).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn only_the_credential_passes() {
        let mut guard = FacadeOnly::new(Some(&Secret::new("façade-credential-123")));
        assert_eq!(
            call(&mut guard, Some("fa\\u{e7}ade")),
            Err(tonic::Code::PermissionDenied)
        );
        assert_eq!(call(&mut guard, None), Err(tonic::Code::PermissionDenied));
        assert_eq!(
            call(&mut guard, Some("")),
            Err(tonic::Code::PermissionDenied)
        );
        assert_eq!(
            call(&mut guard, Some("wrong")),
            Err(tonic::Code::PermissionDenied)
        );
        let mut ascii = FacadeOnly::new(Some(&Secret::new("a-long-facade-credential")));
        assert_eq!(call(&mut ascii, Some("a-long-facade-credential")), Ok(()));
        assert_eq!(
            call(&mut ascii, Some("a-long-facade-credential ")),
            Err(tonic::Code::PermissionDenied)
        );
    }

    #[test]
    fn without_a_credential_nobody_passes() {
        let mut guard = FacadeOnly::new(None);
        assert_eq!(call(&mut guard, None), Err(tonic::Code::PermissionDenied));
        assert_eq!(
            call(&mut guard, Some("")),
            Err(tonic::Code::PermissionDenied)
        );
    }
}
