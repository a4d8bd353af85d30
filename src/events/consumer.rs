//! [`GroupConsumer`]: a Kafka consumer-group member that never stalls the async runtime when
//! it is let go.
//!
//! Dropping an rdkafka group member leaves the group, and rdkafka 0.39's `Drop` polls until
//! the group has let it go, without a bound (rust-rdkafka #509). With the broker gone that
//! can be forever; done on a runtime thread, it would hold that thread (a webhook fan-out
//! restarted after a broker outage) or the node's shutdown. A `GroupConsumer` hands the
//! consumer to a thread of its own when dropped, which leaves the group when it can; the
//! process does not wait for it at exit.

use rdkafka::consumer::StreamConsumer;

pub struct GroupConsumer {
    consumer: Option<StreamConsumer>,
}

impl GroupConsumer {
    pub fn new(consumer: StreamConsumer) -> Self {
        Self {
            consumer: Some(consumer),
        }
    }
}

impl std::ops::Deref for GroupConsumer {
    type Target = StreamConsumer;
    fn deref(&self) -> &StreamConsumer {
        self.consumer.as_ref().expect("present until dropped")
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        if let Some(c) = self.consumer.take() {
            let spawned = std::thread::Builder::new()
                .name("kafka-consumer-close".into())
                .spawn(move || drop(c));
            if let Err(e) = spawned {
                // No thread to spare: the consumer (moved into the failed closure) is
                // dropped here, on the caller's thread.
                tracing::warn!(error = %e, "no thread to close a Kafka consumer on");
            }
        }
    }
}
