extension Duration {
    /// The duration as poll(2)'s timeout: whole milliseconds rounded up (so a wait never ends just before its
    /// deadline and spins), never negative.
    var pollMilliseconds: Int32 {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, milliseconds))
    }
}
