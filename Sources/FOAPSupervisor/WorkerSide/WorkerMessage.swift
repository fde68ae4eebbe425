/// A message a worker sends its master over the control socket: one ASCII word per SOCK_SEQPACKET packet.
public enum WorkerMessage: String, Sendable {
    /// The worker is set up and waits for `accept`: the master may retire the previous generation.
    case ready
    /// Sent every 0.5 s from the worker's event loop; silence for the heartbeat timeout gets it killed.
    case heartbeat
    /// The worker stopped accepting after a `drain` and is finishing in-flight work.
    case draining
}

/// A message the master sends a worker.
enum MasterMessage: String, Sendable {
    /// Stop accepting, finish in-flight requests and streams, then exit.
    case drain
    /// Start accepting on the inherited listeners: no other worker of the slot accepts on them any more.
    case accept
}
