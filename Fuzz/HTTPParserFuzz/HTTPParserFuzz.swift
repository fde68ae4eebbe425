import FOAPHTTP1
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Differential fuzzing of foap's request parser against llhttp (NIO's `HTTPRequestDecoder`): every message foap
/// delivers whole must be one llhttp delivers too, the same (foap may refuse more, never accept more), and
/// cutting the input anywhere must not change what foap delivers. Built by `scripts/fuzz-http-parser` with
/// libFuzzer; without `-DFUZZING` it replays the files named on its command line (crash reproducers, seeds).

/// The complete messages a parser delivered before the stream ended or was refused, as comparable text.
func completeMessages(of chunks: [ArraySlice<UInt8>], llhttp: Bool) -> [String] {
    let channel = EmbeddedChannel()
    if llhttp {
        try! channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
    } else {
        try! channel.pipeline.syncOperations.addHandler(HTTPServerCodec())
    }
    var complete: [String] = []
    var current = ""
    var body = ""
    for chunk in chunks {
        let refused: Bool
        do {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
            refused = false
        } catch {
            refused = true  // the parts delivered before the refusal are still read below
        }
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let head):
                current = "\(head.method.rawValue) \(head.uri) \(head.version) \(fields(head.headers))"
            case .body(let buffer):
                body += String(buffer: buffer)  // joined: how the input was cut may split it differently
            case .end(let trailers):
                complete.append(current + " body:\(body.debugDescription) end \(trailers.map(fields) ?? [])")
                body = ""
            }
        }
        if refused {
            break
        }
    }
    _ = try? channel.finish()
    return complete
}

/// Fields as text. Trailing whitespace is not part of a value (RFC 9110 §5.5): foap drops it, llhttp keeps it.
func fields(_ headers: HTTPHeaders) -> [String] {
    headers.map { field in
        var value = Substring(field.value)
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        return "\(field.name): \(value)"
    }
}

func check(_ bytes: [UInt8]) {
    let ours = completeMessages(of: [bytes[...]], llhttp: false)
    let theirs = completeMessages(of: [bytes[...]], llhttp: true)
    for (index, message) in ours.enumerated() {
        guard index < theirs.count, theirs[index] == message else {
            fatalError("foap delivered a message llhttp did not:\n  foap:   \(message)\n  llhttp: \(theirs)")
        }
    }
    if bytes.count > 1 {
        let cut = Int(bytes[0]) % bytes.count
        let split = completeMessages(of: [bytes[..<cut], bytes[cut...]], llhttp: false)
        guard split == ours else { fatalError("cut at \(cut) changed the messages:\n  \(ours)\n  \(split)") }
    }
}

#if FUZZING
/// libFuzzer's entry for a program that has its own `main` (SwiftPM links executables through their module's
/// entry point, so libFuzzer's `main` is not the one that runs).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The input callback, under the name libFuzzer's own objects refer to.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@main
enum Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
    }
}
#else
/// Replays the inputs named on the command line (crash reproducers, seeds) without libFuzzer.
@main
enum Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { fatalError("cannot read \(path)") }
            check(Array(data))
            print("ok \(path)")
        }
    }
}
#endif
