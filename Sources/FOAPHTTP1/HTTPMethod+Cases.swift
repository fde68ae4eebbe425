import NIOHTTP1

extension HTTPMethod {
    // Case checks by the enum's tag. NIO's `==` compares `rawValue` strings (so that `.RAW(value: "GET")` equals
    // `.GET`): ~150 instructions each, and a proxied request made about ten such comparisons (bench/profile). NIO's
    // parser makes a `.RAW` only for a method it has no case for, so a tag check answers the same for every request
    // read from a client.

    public var isGET: Bool {
        if case .GET = self { return true }
        return false
    }

    public var isHEAD: Bool {
        if case .HEAD = self { return true }
        return false
    }

    public var isPOST: Bool {
        if case .POST = self { return true }
        return false
    }

    public var isCONNECT: Bool {
        if case .CONNECT = self { return true }
        return false
    }

    /// POST, PUT or PATCH: the methods whose requests carry a body by definition.
    public var sendsBody: Bool {
        switch self {
        case .POST, .PUT, .PATCH: return true
        default: return false
        }
    }
}
