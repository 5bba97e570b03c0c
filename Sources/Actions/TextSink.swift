import Foundation

/// Where a reporter writes its log. Standard error by default, so that a command's data on
/// standard output (a decrypted file, JSON) stays clean; the runner reads workflow commands from
/// both streams.
public protocol TextSink: Sendable {
    func write(_ text: String)
    /// Bytes as they are (a decrypted binary file need not be UTF-8).
    func write(_ data: Data)
}

extension TextSink {
    public func write(_ data: Data) { write(String(decoding: data, as: UTF8.self)) }
}

/// Writes to a file descriptor, unbuffered, so log lines and a subprocess's lines interleave in order.
public struct FileDescriptorSink: TextSink {
    public let descriptor: Int32
    public init(_ descriptor: Int32) { self.descriptor = descriptor }

    public static let standardError = FileDescriptorSink(2)
    public static let standardOutput = FileDescriptorSink(1)

    public func write(_ text: String) { write(Data(text.utf8)) }

    public func write(_ data: Data) {
        var bytes = Array(data)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}

/// Keeps everything written, for tests and for commands that print a reporter's text elsewhere.
public final class CapturedText: TextSink, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    public init() {}
    public func write(_ text: String) { lock.withLock { buffer.append(contentsOf: text.utf8) } }
    public func write(_ data: Data) { lock.withLock { buffer.append(data) } }
    public var text: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }
    /// Everything written, as bytes.
    public var data: Data { lock.withLock { buffer } }
}
