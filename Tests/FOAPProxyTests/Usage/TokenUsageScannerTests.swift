import NIOCore
import XCTest

@testable import FOAPProxy

/// `usage` read from real answer shapes (OpenAI and vLLM), whole and split at every byte.
final class TokenUsageScannerTests: XCTestCase {
    static let openAIChat = #"""
        {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"The \"prompt_tokens\":99 you asked about are counted below.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default"}
        """#

    /// vLLM's chat stream with `stream_options.include_usage`: usage only in the last chunk (earlier ones say null).
    static let vLLMStream = """
        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":"stop"}],"usage":null}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[],"usage":{"prompt_tokens": 42, "total_tokens": 49, "completion_tokens": 7}}

        data: [DONE]


        """

    /// The responses API: counts in the final `response.completed` event, as input/output tokens.
    static let responsesStream = """
        event: response.created
        data: {"type":"response.created","response":{"id":"resp_1","object":"response","status":"in_progress","usage":null}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}

        event: response.completed
        data: {"type":"response.completed","response":{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[]}]}],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123},"user":null,"metadata":{}}}


        """

    static let embeddings = #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#

    func scan(_ parts: [String]) -> TokenUsage {
        var scanner = TokenUsageScanner()
        for part in parts {
            scanner.scan(ByteBuffer(string: part))
        }
        return scanner.usage
    }

    /// Every way of cutting `text` in two gives the same answer as the whole.
    func assertEverySplit(_ text: String, _ expected: TokenUsage, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(self.scan([text]), expected, "whole", file: file, line: line)
        let bytes = Array(text.utf8)
        for cut in 1..<bytes.count {
            let parts = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            XCTAssertEqual(self.scan(parts), expected, "cut at \(cut)", file: file, line: line)
        }
    }

    func testTheSuffixWordIsTheSuffixsBytes() {
        let bytes = Array(#"_tokens""#.utf8)
        XCTAssertEqual(
            TokenUsageScanner.suffixWord, bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    }

    func testChatAnswerIgnoresTheKeyInsideContentAndTheDetailObjects() {
        self.assertEverySplit(Self.openAIChat, TokenUsage(prompt: 19, completion: 10))
    }

    func testVLLMStreamTakesTheFinalChunk() {
        self.assertEverySplit(Self.vLLMStream, TokenUsage(prompt: 42, completion: 7))
    }

    func testResponsesStreamReadsInputAndOutputTokens() {
        self.assertEverySplit(Self.responsesStream, TokenUsage(prompt: 36, completion: 87))
    }

    func testEmbeddingsHaveOnlyPromptTokens() {
        self.assertEverySplit(Self.embeddings, TokenUsage(prompt: 8, completion: nil))
    }

    func testStreamWithoutUsageReportsNothing() {
        XCTAssertEqual(
            self.scan(["data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", "data: [DONE]\n\n"]),
            TokenUsage()
        )
    }

    func testOnlyTheTailOfAHugePartIsSearched() {
        let padding = String(repeating: " ", count: TokenUsageScanner.searchedTail * 2)
        let early = #"{"usage":{"prompt_tokens":1,"completion_tokens":2}"# + padding + "}"
        XCTAssertEqual(self.scan([early]), TokenUsage(), "usage far from the end of one part is not looked for")
        XCTAssertEqual(self.scan([padding + Self.embeddings]), TokenUsage(prompt: 8, completion: nil))
    }
}
