//! One way to try again: a [`Backoff`] schedule of pauses, and [`retry`],
//! which runs attempts until one succeeds, one fails for good, the attempts
//! run out, or the next pause would end past the budget. Pauses are
//! `tokio::time::sleep`: nothing here blocks the runtime.
//!
//! Used for proving an engine answers (ping), waiting for a daemon to be
//! ready, restarting a daemon that died, the cgroup v2 nesting cycle, and
//! polling a helper that has no SIGCHLD to wait on.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How the pause grows from one attempt to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Growth {
    Constant,
    /// `first`, `2 * first`, `3 * first`, ...
    Linear,
    /// `first`, `2 * first`, `4 * first`, ... up to `max`.
    Doubling,
}

/// The pauses between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    growth: Growth,
    next: Duration,
    step: u32,
}

impl Backoff {
    /// The same pause every time.
    pub fn constant(pause: Duration) -> Backoff {
        Backoff::new(pause, pause, Growth::Constant)
    }

    /// `step`, then `2 * step`, `3 * step`, ... (no upper bound: pair it
    /// with a bounded number of attempts).
    pub fn linear(step: Duration) -> Backoff {
        Backoff::new(step, Duration::MAX, Growth::Linear)
    }

    /// `first`, doubling after each pause up to `max`; never below 1 ms
    /// after the first, so a zero start still backs off.
    pub fn doubling(first: Duration, max: Duration) -> Backoff {
        Backoff::new(first, max, Growth::Doubling)
    }

    fn new(first: Duration, max: Duration, growth: Growth) -> Backoff {
        Backoff {
            first,
            max,
            growth,
            next: first,
            step: 1,
        }
    }

    /// The next pause; the schedule moves on.
    pub fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.step = self.step.saturating_add(1);
        self.next = match self.growth {
            Growth::Constant => self.first,
            Growth::Linear => self.first.saturating_mul(self.step),
            Growth::Doubling => self
                .next
                .saturating_mul(2)
                .min(self.max)
                .max(Duration::from_millis(1)),
        };
        now
    }

    /// Back to the first pause (after a long healthy stretch).
    pub fn reset(&mut self) {
        *self = Backoff::new(self.first, self.max, self.growth);
    }
}

/// The bounds of a retried operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// No attempt starts after this much time (None: only `attempts` bounds).
    pub budget: Option<Duration>,
    /// At most this many attempts (None: only `budget` bounds).
    pub attempts: Option<u32>,
    pub backoff: Backoff,
}

/// One attempt's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<T, E> {
    /// It worked.
    Done(T),
    /// Not yet: try again after the next pause, if the bounds allow.
    Again(E),
    /// It will not work: stop now.
    Fail(E),
}

/// How a retried operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried<T, E> {
    /// The last attempt's value, or its error.
    pub result: Result<T, E>,
    pub attempts: u32,
    pub elapsed: Duration,
}

/// Runs `attempt(1)`, `attempt(2)`, ... with the pauses of `policy.backoff`
/// between them, until one is `Done` or `Fail`, the attempts run out, or the
/// next pause would end at or after the budget.
pub async fn retry<T, E, F, Fut>(policy: Retry, mut attempt: F) -> Retried<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let start = Instant::now();
    let deadline = policy.budget.and_then(|b| start.checked_add(b));
    let mut backoff = policy.backoff;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match attempt(attempts).await {
            Attempt::Done(value) => {
                return Retried {
                    result: Ok(value),
                    attempts,
                    elapsed: start.elapsed(),
                }
            }
            Attempt::Fail(error) => {
                return Retried {
                    result: Err(error),
                    attempts,
                    elapsed: start.elapsed(),
                }
            }
            Attempt::Again(error) => error,
        };
        let pause = backoff.next_delay();
        let out_of_attempts = policy.attempts.is_some_and(|max| attempts >= max);
        let out_of_time = deadline.is_some_and(|d| Instant::now() + pause >= d);
        if out_of_attempts || out_of_time {
            return Retried {
                result: Err(error),
                attempts,
                elapsed: start.elapsed(),
            };
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn schedules() {
        let mut d = Backoff::doubling(100 * MS, 1600 * MS);
        let got: Vec<u128> = (0..7).map(|_| d.next_delay().as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 1600, 1600]);
        d.reset();
        assert_eq!(d.next_delay(), 100 * MS);
        let mut z = Backoff::doubling(Duration::ZERO, 4 * MS);
        let got: Vec<u128> = (0..4).map(|_| z.next_delay().as_millis()).collect();
        assert_eq!(got, [0, 1, 2, 4]);
        let mut l = Backoff::linear(20 * MS);
        let got: Vec<u128> = (0..4).map(|_| l.next_delay().as_millis()).collect();
        assert_eq!(got, [20, 40, 60, 80]);
        let mut c = Backoff::constant(10 * MS);
        assert_eq!((c.next_delay(), c.next_delay()), (10 * MS, 10 * MS));
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_first_success_or_failure() {
        let policy = Retry {
            budget: Some(Duration::from_secs(10)),
            attempts: None,
            backoff: Backoff::constant(10 * MS),
        };
        let done = retry(policy, |n| async move {
            if n < 3 {
                Attempt::Again(n)
            } else {
                Attempt::Done(n)
            }
        })
        .await;
        assert_eq!((done.result, done.attempts), (Ok(3), 3));
        let failed: Retried<(), &str> = retry(policy, |_| async { Attempt::Fail("no") }).await;
        assert_eq!((failed.result, failed.attempts), (Err("no"), 1));
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_by_attempts_and_by_budget() {
        let calls = Cell::new(0);
        let by_count: Retried<(), u32> = retry(
            Retry {
                budget: None,
                attempts: Some(4),
                backoff: Backoff::linear(20 * MS),
            },
            |n| {
                calls.set(n);
                async move { Attempt::Again(n) }
            },
        )
        .await;
        assert_eq!((by_count.result, calls.get()), (Err(4), 4));
        // 20 + 40 + 60 ms of pauses between the four attempts.
        assert_eq!(by_count.elapsed, 120 * MS);

        let by_time: Retried<(), ()> = retry(
            Retry {
                budget: Some(100 * MS),
                attempts: None,
                backoff: Backoff::constant(30 * MS),
            },
            |_| async { Attempt::Again(()) },
        )
        .await;
        // Attempts at 0, 30, 60 and 90 ms; after that a pause ends past 100.
        assert_eq!(by_time.attempts, 4);
        let once: Retried<(), ()> = retry(
            Retry {
                budget: Some(Duration::ZERO),
                attempts: None,
                backoff: Backoff::doubling(Duration::ZERO, Duration::ZERO),
            },
            |_| async { Attempt::Again(()) },
        )
        .await;
        assert_eq!(once.attempts, 1, "a zero budget is one attempt");
    }
}
