import FOAPHTTP1
import NIOCore
import NIOEmbedded
import NIOHTTP1

// The client connection's request parser against llhttp (NIO's `HTTPRequestDecoder`, which it replaced): inputs
// whose first byte has its high bit set (`check`). Every request foap delivers whole must be one llhttp delivers too,
// the same; cutting the input must not change what foap delivers.

/// Complete requests as comparable text: head, the body joined (a cut input splits it differently), trailers.
struct RequestTranscript {
    private(set) var complete: [String] = []
    private var head = ""
    private var body = ""

    mutating func add(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            self.head = "\(head.method.rawValue) \(head.uri) \(head.version) \(fields(head.headers))"
        case .body(let buffer):
            self.body += String(buffer: buffer)
        case .end(let trailers):
            self.complete.append(self.head + " body:\(self.body.debugDescription) end \(trailers.map(fields) ?? [])")
            self.body = ""
        }
    }
}

/// The complete requests llhttp delivered before the stream ended or was refused.
func llhttpRequests(_ bytes: [UInt8]) -> [String] {
    let channel = EmbeddedChannel()
    try! channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
    var transcript = RequestTranscript()
    _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))  // the parts before a refusal are still read
    while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
        transcript.add(part)
    }
    _ = try? channel.finish()  // or the pipeline's reference cycle leaks
    return transcript.complete
}

/// The complete requests foap's parser delivered, fed `chunks` one after another.
func foapRequests(_ chunks: [ArraySlice<UInt8>]) -> [String] {
    var parser = HTTPRequestParser()
    var buffer = ByteBuffer()
    var transcript = RequestTranscript()
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
    return transcript.complete
}

func checkRequests(_ bytes: [UInt8], cut: Int) {
    let ours = foapRequests([bytes[...]])
    let theirs = llhttpRequests(bytes)
    for (index, request) in ours.enumerated() {
        guard index < theirs.count, theirs[index] == request else {
            fatalError("foap delivered a request llhttp did not:\n  foap:   \(request)\n  llhttp: \(theirs)")
        }
    }
    if bytes.count > 1 {
        let cut = cut % bytes.count
        let split = foapRequests([bytes[..<cut], bytes[cut...]])
        guard split == ours else { fatalError("cut at \(cut) changed the requests:\n  \(ours)\n  \(split)") }
    }
}
