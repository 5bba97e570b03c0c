import Foundation

// libFuzzer target: the pull-request event payload reader never crashes, and never returns a
// branch that could break a line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    if let event = try? PullRequestEvent.parse(bytes, path: "event.json") {
        precondition(!event.branch.isEmpty && !event.branch.contains(where: \.isNewline))
    }
    return 0
}
