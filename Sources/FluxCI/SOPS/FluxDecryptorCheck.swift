import Actions
import Flux
import Foundation
import SOPS

/// The preflight's reading of a SOPS file that a kustomization's secretGenerator or patch
/// names: as kustomize-controller's decryptor reads it (`SOPSDecryptorRead`: the format comes
/// from the entry), not as `sops -d` reads the file by its name. `fluxci sops verify` on a named
/// file keeps sops's rule.
enum FluxDecryptorCheck {
    /// The file to decrypt for `read` (its keys and values are then checked as for any file),
    /// or the error Flux meets: its decryptor fails on the file, or leaves it encrypted so that
    /// the encrypted text would be applied.
    static func open(_ bytes: Data, name: String, read: SOPSDecryptorRead) -> Result<StoredSOPSFile, Annotation> {
        guard let storage = SOPSFileFormat.encryptedStorage(of: bytes) else {
            return .failure(.error("\(name) is not a SOPS file.", title: "Not a SOPS file", at: SourceLocation(file: name)))
        }
        let shown = storage == .json && read.format == .binary ? "binary" : storage.rawValue
        if read.decryptsInPlace(bytes) {
            // decryptKustomizationSources → sopsDecryptFile(path, format, format).
            do {
                guard let file = try StoredSOPSFile(bytes: bytes, readAs: read.format) else { return .failure(notSOPS(name)) }
                return .success(file)
            } catch .wrongStore(_, let storedAs, let detail, let line) {
                return .failure(.error(
                    "\(name) is a \(storedAs.rawValue) SOPS file, but \(read.description) makes kustomize-controller decrypt it as \(read.format.rawValue), which fails (\(detail)): the Kustomization fails to build.",
                    title: "Format chosen by the generator entry", fix: fix(name, storage: storedAs, read: read),
                    at: read.line == nil ? SourceLocation(file: name, line: line) : entrySite(read)))
            } catch {
                return .failure(SOPSFiles.annotation(error, file: name))
            }
        }
        guard case .file(let key) = read.entry else {
            // An envs: file is split into lines by kustomize and a patch applied as it is:
            // nothing decrypts the values afterwards (they are not whole SOPS documents).
            return .failure(.error(
                "\(name) is a \(shown) SOPS file, but \(read.description) makes kustomize-controller read it as \(read.format.rawValue), and it holds no \(read.format.rawValue) SOPS marker (`\(String(decoding: SOPSDecryptorRead.marker(read.format), as: UTF8.self))`): Flux leaves it encrypted, and kustomize builds with the encrypted text (ENC[…] values and sops metadata would be applied).",
                title: "Not decrypted by Flux", fix: fix(name, storage: storage, read: read), at: SourceLocation(file: name, line: 1)))
        }
        // Left encrypted, the file becomes one value of the generated Secret; DecryptResource
        // finds the markers of its own format in it and decrypts it, written in the key's format.
        let file: StoredSOPSFile
        do {
            guard let found = try StoredSOPSFile(bytes: bytes, readAs: storage) else { return .failure(notSOPS(name)) }
            file = found
        } catch {
            return .failure(SOPSFiles.annotation(error, file: name))
        }
        if let failure = emitFailure(file, as: read.format) {
            return .failure(.error(
                "\(name) is a \(shown) SOPS file that \(read.description) puts whole into the Secret's \(key) value; kustomize-controller decrypts that value as \(shown) and writes it as \(read.format.rawValue) (the format of the key), which fails (\(failure)): the Kustomization fails.",
                title: "Format chosen by the generator entry", fix: fix(name, storage: storage, read: read), at: entrySite(read)))
        }
        return .success(file)
    }

    /// The entry whose key or path chose the format (tester t19 F5): the line to change, where
    /// the fix applies (`key=file` with the file's own extension).
    static func entrySite(_ read: SOPSDecryptorRead) -> SourceLocation {
        SourceLocation(file: read.declaredIn, line: read.line)
    }

    static func notSOPS(_ name: String) -> Annotation {
        .error("\(name) is not a SOPS file.", title: "Not a SOPS file", at: SourceLocation(file: name))
    }

    /// What sops's store for `format` says when asked to write this file's tree
    /// (`EmitPlainFile` of getsops/sops stores/*), nil when it can.
    static func emitFailure(_ file: StoredSOPSFile, as format: SOPSFileFormat) -> String? {
        switch (file.content, format) {
        case (_, .yaml), (_, .json): return nil
        case (.tree(let tree), .binary):
            // `BinaryStore.EmitPlainFile`: the string under a top-level `data`.
            guard case .mapping(let entries, _) = tree.documents[0].tree, entries.contains(where: { $0.key == "data" }) else { return "no binary data found in tree" }
            return nil
        case (.tree(let tree), .dotenv):
            // dotenv's `EmitPlainFile`: every top-level value a scalar.
            guard case .mapping(let entries, _) = tree.documents[0].tree else { return "cannot use complex value in dotenv file" }
            let complex = entries.contains { entry in
                switch entry.value {
                case .mapping, .sequence: true
                default: false
                }
            }
            return complex ? "cannot use complex value in dotenv file" : nil
        case (.tree(let tree), .ini):
            // ini's encoder takes every top-level value as a section (a mapping); anything else
            // panics, which the decryptor reports as a failure to emit.
            guard case .mapping(let entries, _) = tree.documents[0].tree else { return "failed to emit as INI" }
            let sections = entries.allSatisfy { entry in
                switch entry.value {
                case .mapping, .comment: true
                default: false
                }
            }
            return sections ? nil : "failed to emit encrypted file as decrypted INI: a top-level value is not a section"
        case (.flat(let document), .binary):
            return document.items.contains(where: { !$0.isComment && $0.path.count == 1 && $0.path[0] == Array("data".utf8) }) && file.storage == .dotenv
                ? nil : "no binary data found in tree"
        case (.flat, .dotenv):
            return file.storage == .dotenv ? nil : "cannot use complex value in dotenv file"
        case (.flat, .ini):
            return file.storage == .ini ? nil : "failed to emit encrypted dotenv file as decrypted INI"
        }
    }

    /// A fix text, written as `fix: "…"` so that FixTextTests checks the commands it names.
    static func checked(fix: String) -> String { fix }

    /// How to make the entry and the file agree.
    static func fix(_ name: String, storage: SOPSFileFormat, read: SOPSDecryptorRead) -> String {
        let suffix = StoredSOPSFile.suffix(storage)
        switch read.entry {
        case .file(let key):
            let file = name.split(separator: "/").last.map(String.init) ?? name
            let keyed = (key.split(separator: ".").count > 1 ? String(key[..<key.lastIndex(of: ".")!]) : key) + suffix
            return storage == .json && read.format == .binary
                ? checked(fix: "Give the entry a key ending in .json (`\(keyed)=\(file)`): kustomize-controller reads a files: entry in the format of its key.")
                : checked(fix: "Give the entry a key ending in \(suffix) (`\(keyed)=\(file)`), or store the file as \(read.format.rawValue): kustomize-controller reads a files: entry in the format of its key.")
        case .env:
            return storage == .dotenv
                ? checked(fix: "Rename the file to end in .env or to have no extension (an envs: file is read as dotenv unless its name says otherwise).")
                : checked(fix: "An envs: file must be a dotenv file: encrypt the dotenv file (`fluxci sops encrypt --in-place FILE.env`) and list that, or list this file under files:.")
        case .patch:
            return checked(fix: "Rename the patch to end in \(suffix): kustomize-controller reads a patch in the format of its name.")
        }
    }
}
