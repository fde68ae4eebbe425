/// A value kept outside the object that owns it, for state a loop-bound object changes on every event.
///
/// Swift checks exclusive access to a class's stored `var` at run time unless the whole-module optimizer proves
/// that no access to it can overlap another. One access anywhere around a call it cannot see through (another
/// module's code, a release that may run a deinit) defeats the proof, and then every access to the property pays
/// the check: ~70 instructions each in bench/profile, a dozen times per request for the exchange's state machine.
/// Moving the value out and back around such calls costs as much in copies when the value is large. Through this
/// cell the value is reached by pointer instead: no check, no copy, one allocation for the owner's lifetime.
///
/// Only for a value whose accesses cannot overlap: a value type whose methods cannot reach back into the owner,
/// used only on the owner's event loop, each access one synchronous call. The owner calls `free()` in its `deinit`.
struct LoopBoundCell<Value> {
    private let pointer: UnsafeMutablePointer<Value>

    init(_ value: Value) {
        self.pointer = .allocate(capacity: 1)
        self.pointer.initialize(to: value)
    }

    var value: Value {
        @inline(__always) _read { yield self.pointer.pointee }
        @inline(__always) nonmutating _modify { yield &self.pointer.pointee }
    }

    /// Destroys the value and frees its storage; the cell must not be used afterwards.
    func free() {
        self.pointer.deinitialize(count: 1)
        self.pointer.deallocate()
    }
}
