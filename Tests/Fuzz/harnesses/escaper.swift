import Foundation

// libFuzzer target: a workflow command rendered from any text stays one line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let line = Annotation.error(text, title: text, fix: text, at: SourceLocation(file: text, line: 1)).workflowCommand.rendered
    precondition(!line.unicodeScalars.contains("\n") && !line.unicodeScalars.contains("\r"), "a rendered command spans lines")
    precondition(line.hasPrefix("::error"), "a rendered command does not start with ::error")
    return 0
}
