//! Argon2 on a few threads of its own.
//!
//! Each argon2 run (OWASP's default, 19 MiB) needs its whole memory block.
//! Run by the library on tokio's blocking pool, every run allocated one,
//! every new thread brought its own malloc arena that kept them, and a burst
//! of logins left the server near 1 GB resident; an unauthenticated flood of
//! wrong secrets could also start hundreds of such threads at once. Here a
//! fixed set of workers (one per core, at most [`MAX_WORKERS`]) takes the
//! runs from a bounded queue, and each worker reuses one memory block for
//! all its runs: memory stays at one block per worker, excess requests wait
//! their turn, and the async runtime never runs a hash.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

use crate::domain::Error;

/// Most worker threads, whatever the core count: argon2 is memory-bound and
/// each worker holds a block.
const MAX_WORKERS: usize = 4;

/// Runs waiting for a worker before callers wait to enqueue.
const QUEUE: usize = 1024;

enum Work {
    Hash(String),
    /// Verify against a stored PHC hash, or against a dummy one (`None`) so
    /// an unknown client costs as much as a known one.
    Verify(String, Option<String>),
}

enum Outcome {
    Hashed(Result<String, Error>),
    Verified(bool),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Outcome>,
}

/// A handle on the workers; cheap to clone. The workers stop when the last
/// handle is dropped.
#[derive(Clone)]
pub struct SecretHasher {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHasher").finish_non_exhaustive()
    }
}

impl SecretHasher {
    /// Starts one worker per available core, at most [`MAX_WORKERS`].
    pub fn start() -> Result<SecretHasher, Error> {
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_WORKERS);
        Self::with_workers(workers)
    }

    fn with_workers(workers: usize) -> Result<SecretHasher, Error> {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..workers.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("steward-argon2-{index}"))
                .spawn(move || work(&queue))
                .map_err(|e| Error::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(SecretHasher { jobs })
    }

    async fn run(&self, work: Work) -> Result<Outcome, Error> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { work, reply })
            .await
            .map_err(|_| Error::Internal("the hashing threads are gone".into()))?;
        answer
            .await
            .map_err(|_| Error::Internal("a hashing thread dropped its job".into()))
    }

    /// The PHC-format argon2id hash of `secret`, with a fresh salt.
    pub async fn hash(&self, secret: String) -> Result<String, Error> {
        match self.run(Work::Hash(secret)).await? {
            Outcome::Hashed(result) => result,
            Outcome::Verified(_) => Err(Error::Internal("hashing answered a verification".into())),
        }
    }

    /// Whether `secret` matches the PHC hash `stored`; with `None`, the same
    /// work against a dummy hash and `false`.
    pub async fn verify(&self, secret: String, stored: Option<String>) -> Result<bool, Error> {
        match self.run(Work::Verify(secret, stored)).await? {
            Outcome::Verified(ok) => Ok(ok),
            Outcome::Hashed(_) => Err(Error::Internal("verification answered a hash".into())),
        }
    }
}

/// A worker: takes jobs until every handle is dropped.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory = Memory::default();
    loop {
        // One worker waits on the queue at a time; the others wait on the lock.
        let job = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(job) = job else {
            return;
        };
        let outcome = match job.work {
            Work::Hash(secret) => Outcome::Hashed(memory.hash(secret.as_bytes())),
            Work::Verify(secret, stored) => {
                let hash = stored.as_deref().unwrap_or_else(|| dummy_hash());
                let ok = memory.verify(secret.as_bytes(), hash);
                Outcome::Verified(ok && stored.is_some())
            }
        };
        // The caller may have gone (a dropped request); nothing to do then.
        let _ = job.reply.send(outcome);
    }
}

/// One worker's argon2 memory, kept between runs.
#[derive(Default)]
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// Runs `context` over this memory (resized when its cost differs).
    fn run(
        &mut self,
        context: &Argon2<'_>,
        secret: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let count = context.params().block_count();
        if self.blocks.len() != count {
            self.blocks = vec![Block::new(); count];
        }
        context.hash_password_into_with_memory(secret, salt, out, &mut self.blocks[..])
    }

    /// A PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash` with the
    /// library's default parameters and a fresh 16-byte salt.
    fn hash(&mut self, secret: &[u8]) -> Result<String, Error> {
        let failed =
            |e: &dyn std::fmt::Display| Error::Internal(format!("cannot hash secret: {e}"));
        let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
        getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
        let params = Params::default();
        let context = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.run(&context, secret, &salt, &mut out)
            .map_err(|e| failed(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `secret` matches the PHC string `stored` (any argon2 variant,
    /// version and cost it names); a string that does not parse never does.
    fn verify(&mut self, secret: &[u8], stored: &str) -> bool {
        let Ok(phc) = PasswordHash::new(stored) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
            return false;
        };
        let version = match phc.version.map(Version::try_from).transpose() {
            Ok(version) => version.unwrap_or_default(),
            Err(_) => return false,
        };
        let Ok(params) = Params::try_from(&phc) else {
            return false;
        };
        let context = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        if self.run(&context, secret, salt.as_ref(), &mut out).is_err() {
            return false;
        }
        out.as_slice().ct_eq(expected.as_bytes()).into()
    }
}

/// A real hash of a value no client has, made once, on a worker.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Memory::default()
            .hash(b"steward-timing-equaliser")
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknowns_never_do() {
        let hasher = SecretHasher::with_workers(2).unwrap();
        let hash = hasher.hash("s3cret".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            hasher
                .verify("s3cret".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("wrong".into(), Some(hash)).await.unwrap());
        assert!(
            !hasher
                .verify("steward-timing-equaliser".into(), None)
                .await
                .unwrap(),
            "the dummy hash's own secret must not authenticate an unknown client"
        );
        assert!(
            !hasher
                .verify("x".into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }

    #[test]
    fn hashes_agree_with_the_library_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Memory::default();
        let ours = memory.hash(b"pw").unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"pw", ours.as_str())
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"pv", ours.as_str())
                .is_err()
        );
        // Hashes stored before this module (by the library) still verify,
        // also with other costs than the default.
        let theirs = Argon2::default().hash_password(b"pw").unwrap().to_string();
        assert!(memory.verify(b"pw", &theirs));
        assert!(!memory.verify(b"pv", &theirs));
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(memory.verify(b"pw", &cheap));
        assert!(memory.verify(b"pw", &theirs), "memory resized back");
        assert_eq!(memory.blocks.len(), Params::default().block_count());
    }

    #[tokio::test]
    async fn more_runs_than_workers_all_finish() {
        let hasher = SecretHasher::with_workers(1).unwrap();
        let hash = hasher.hash("k".into()).await.unwrap();
        let mut runs = tokio::task::JoinSet::new();
        for i in 0..6 {
            let hasher = hasher.clone();
            let hash = hash.clone();
            runs.spawn(async move {
                hasher
                    .verify(if i % 2 == 0 { "k" } else { "no" }.into(), Some(hash))
                    .await
            });
        }
        let mut oks = 0;
        while let Some(done) = runs.join_next().await {
            if done.unwrap().unwrap() {
                oks += 1;
            }
        }
        assert_eq!(oks, 3);
    }
}
