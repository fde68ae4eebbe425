/// Which holder id of the shared limits region each live worker has.
///
/// A holder id names a worker's share of the in-flight counts in the region, so that the master can give back what
/// a worker held when it dies. Ids are few (the region's size is fixed), so they are reused: the lowest free one
/// goes to the next worker, and an id is free again only after the master has reclaimed what its worker held.
struct LimitsHolders {
    private var free: [Bool]
    private var byWorker: [WorkerID: Int] = [:]

    init(count: Int) {
        self.free = Array(repeating: true, count: count)
    }

    /// The id for a worker about to start; nil when every id is taken (more live workers than the region allows).
    mutating func assign(_ worker: WorkerID) -> Int? {
        guard let id = self.free.firstIndex(of: true) else { return nil }
        self.free[id] = false
        self.byWorker[worker] = id
        return id
    }

    /// The worker is gone (or never started): its id, to reclaim before it is reused.
    mutating func release(_ worker: WorkerID) -> Int? {
        guard let id = self.byWorker.removeValue(forKey: worker) else { return nil }
        self.free[id] = true
        return id
    }
}
