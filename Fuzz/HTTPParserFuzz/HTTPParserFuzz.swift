import FOAPHTTP1
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Differential fuzzing of foap's HTTP/1.1 parsers against llhttp: the request parser (the client connection's,
/// against NIO's `HTTPRequestDecoder`) when the first input byte has its high bit set, else the response parser (the
/// pooled upstream connection's, against `HTTPResponseDecoder`), the first byte picking the request's method (a
/// HEAD's answer has no body). Every message foap delivers whole must be one llhttp delivers too, the same (foap may
/// refuse more, never accept more), and cutting the input anywhere must not change what foap delivers. Built by `scripts/fuzz-http-parser` with
/// libFuzzer; without `-DFUZZING` it replays the files named on its command line (crash reproducers, seeds).

/// Fields as text. Trailing whitespace is not part of a value (RFC 9110 §5.5): foap drops it, llhttp keeps it.
func fields(_ headers: HTTPHeaders) -> [String] {
    headers.map { field in
        var value = Substring(field.value)
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        return "\(field.name): \(value)"
    }
}

func describe(_ head: HTTPResponseHead) -> String {
    "\(head.version) \(head.status.code) \(fields(head.headers))"
}

/// Complete responses as comparable text: head, the body joined (a cut input splits it differently), trailers.
struct ResponseTranscript {
    private(set) var complete: [String] = []
    private var head = ""
    private var body = ""

    mutating func add(_ part: HTTPClientResponsePart) {
        switch part {
        case .head(let head):
            self.head = describe(head)
        case .body(let buffer):
            self.body += String(buffer: buffer)
        case .end(let trailers):
            self.complete.append(self.head + " body:\(self.body.debugDescription) end \(trailers.map(fields) ?? [])")
            self.body = ""
        }
    }
}

/// The complete responses llhttp delivered for a request of `method`, the upstream closing after the last byte.
func llhttpResponses(_ bytes: [UInt8], method: HTTPMethod) -> [String] {
    let channel = EmbeddedChannel()
    try! channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
    try! channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder()))
    try! channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/")))
    try! channel.writeOutbound(HTTPClientRequestPart.end(nil))
    var transcript = ResponseTranscript()
    func read() {
        while let part = try? channel.readInbound(as: HTTPClientResponsePart.self) {
            transcript.add(part)
        }
    }
    // A refusal throws from the write or, for a response cut short, from `finish` (the upstream closing); the channel
    // is finished either way, or its pipeline's reference cycle leaks (LeakSanitizer found it).
    _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
    read()
    _ = try? channel.finish()
    read()
    return transcript.complete
}

/// The complete responses foap's parser delivered, fed `chunks` one after another, the upstream closing after.
func foapResponses(_ chunks: [ArraySlice<UInt8>], method: HTTPMethod) -> [String] {
    var parser = HTTPResponseParser()
    parser.expectResponse(to: method)
    var buffer = ByteBuffer()
    var transcript = ResponseTranscript()
    for chunk in chunks {
        buffer.writeBytes(chunk)
        do {
            while let part = try parser.nextPart(from: &buffer) ?? parser.pendingEnd() {
                transcript.add(part.nioPart)
            }
        } catch {
            return transcript.complete
        }
    }
    if let end = parser.endOfInput() {
        transcript.add(end.nioPart)
    }
    return transcript.complete
}

func check(_ input: [UInt8]) {
    guard let first = input.first else { return }
    let bytes = Array(input.dropFirst())
    if first & 0x80 != 0 {
        checkRequests(bytes, cut: Int(first))  // the client connection's parser (RequestFuzz.swift)
        return
    }
    let method: HTTPMethod = first % 4 == 0 ? .HEAD : .POST
    // One request, one response: what follows it is unsolicited (the relay closes the connection on it, and NIO's
    // decoder, which knows of one request, refuses it), so only the first response is compared.
    let ours = Array(foapResponses([bytes[...]], method: method).prefix(1))
    let theirs = Array(llhttpResponses(bytes, method: method).prefix(1))
    for (index, response) in ours.enumerated() {
        guard index < theirs.count, theirs[index] == response else {
            fatalError("foap delivered a response llhttp did not:\n  foap:   \(response)\n  llhttp: \(theirs)")
        }
    }
    if bytes.count > 1 {
        let cut = Int(first) % bytes.count
        let split = Array(foapResponses([bytes[..<cut], bytes[cut...]], method: method).prefix(1))
        guard split == ours else { fatalError("cut at \(cut) changed the responses:\n  \(ours)\n  \(split)") }
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
