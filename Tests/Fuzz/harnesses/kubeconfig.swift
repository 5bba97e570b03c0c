import Foundation

// libFuzzer target: the kubeconfig reader never crashes, and a manifest's JSON reader neither.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var config = Kubeconfig()
    if (try? config.merge(text, path: "/fuzz/config")) != nil { _ = try? config.connection(context: nil) }
    _ = try? JSONValue.parse(Data(text.utf8))
    return 0
}
