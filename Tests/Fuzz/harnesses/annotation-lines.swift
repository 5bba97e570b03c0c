import Foundation

// libFuzzer target: `fluxci annotate`'s reader of compiler and JSON lines never crashes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        if case .annotation(let annotation)? = try? AnnotationLineParser.parse(String(line), inputName: "stdin", lineNumber: index + 1) {
            precondition(!annotation.workflowCommand.rendered.unicodeScalars.contains("\n"))
        }
    }
    return 0
}
