import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP connect to 127.0.0.1:`port`: the open descriptor, or the errno of the failure (the handshake
/// completes in the kernel whether or not foap accepts, so a connect says whether a listener is there at all).
func connectLoopback(port: Int) -> Result<CInt, POSIXError> {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return .failure(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard result == 0 else {
        let failure = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        close(descriptor)
        return .failure(failure)
    }
    return .success(descriptor)
}
