import FOAPRedis
import NIOCore
import XCTest

final class RESPEncoderTests: XCTestCase {
    func testACommandIsAnArrayOfBulkStrings() {
        var buffer = ByteBuffer()
        RESPEncoder.encode(RedisCommand("SET", "key", 42), into: &buffer)
        XCTAssertEqual(String(buffer: buffer), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n")
    }

    func testArgumentsAreBinarySafe() {
        var buffer = ByteBuffer()
        RESPEncoder.encode(RedisCommand("SET", "a\r\nb", ByteBuffer(bytes: [0, 255]), ""), into: &buffer)
        let expected = Array("*4\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$2\r\n".utf8) + [0, 255] + Array("\r\n$0\r\n\r\n".utf8)
        XCTAssertEqual(Array(buffer.readableBytesView), expected)
    }

    func testWhatTheEncoderWritesTheDecoderReadsBack() throws {
        var buffer = ByteBuffer()
        RESPEncoder.encode(RedisCommand("FCALL", "admit", 2, "{k}:a", "{k}:b"), into: &buffer)
        let value = try XCTUnwrap(try RESPParser().parse(&buffer))
        XCTAssertEqual(value.elements?.compactMap(\.string), ["FCALL", "admit", "2", "{k}:a", "{k}:b"])
    }

    func testTheDescriptionNamesTheCommandWithoutItsArguments() {
        XCTAssertEqual("\(RedisCommand("auth", "user", "secret"))", "AUTH")
    }
}
