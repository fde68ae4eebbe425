import FOAPLimits
import XCTest

@testable import FOAPProxy

/// The 429 of a refused admission says how long to wait the way its `retry-after` does.
final class RateLimitedErrorTests: XCTestCase {
    private func message(waiting wait: Duration) -> String {
        let refusal = Refusal(
            kind: .requests, label: "requests per sec (RPS)", scope: .key("team"), limit: 5, used: 5, requested: 1,
            retryAfter: wait, resetsAt: nil, neverFits: false)
        return OpenAIError.rateLimited(refusal, model: "m", keyName: "team").message
    }

    /// A wait under 50 ms read "try again in 0.0s" beside a `retry-after: 1`: it is rounded up to a tenth.
    func testTheWaitIsRoundedUpToATenthOfASecond() {
        XCTAssertTrue(self.message(waiting: .milliseconds(30)).hasSuffix("Please try again in 0.1s."))
        XCTAssertTrue(self.message(waiting: .milliseconds(100)).hasSuffix("Please try again in 0.1s."))
        XCTAssertTrue(self.message(waiting: .milliseconds(1_201)).hasSuffix("Please try again in 1.3s."))
        XCTAssertTrue(self.message(waiting: .seconds(60)).hasSuffix("Please try again in 60.0s."))
    }
}
