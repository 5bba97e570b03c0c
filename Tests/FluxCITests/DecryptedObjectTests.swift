import Foundation
import Testing
import TestSupport

/// Tester t12 F15 and F9: kustomize-controller's `build()` decrypts each built object
/// (`DecryptResource`) and then substitutes it (`SubstituteVariables`), so postBuild's envsubst
/// runs on the decrypted values, and the apply sees the decrypted apiVersion, kind and metadata.
/// fluxci decrypts the built object in memory with the run's keys and checks what the
/// controller sees. Files are written by the real sops into the cloud-env fixture (apps:
/// `decryption: sops-age`), planned through the real `fluxci`; no decrypted value may reach any
/// output, and problems sit at the key's line in the encrypted file.
@Suite(.serialized) struct DecryptedObjectTests {
    static let recipient = "age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx"
    static let overlay = "kubernetes/apps/overlays/staging"

    /// cloud-env with `files` (name → plaintext YAML) encrypted into the apps overlay (`regex`:
    /// sops' --encrypted-regex, nil: every value) and listed there; `postBuild` added to apps.
    static func fleet(_ files: [(name: String, text: String, regex: String?)], postBuild: String?, json: Set<String> = []) async throws -> (checkout: URL, encrypted: [String: String]) {
        let fixture = try FleetFixture.load("cloud-env")
        let checkout = try fixture.checkout(variant: nil)
        var encrypted: [String: String] = [:]
        var listed = ""
        for file in files {
            let plain = checkout.deletingLastPathComponent().appendingPathComponent("plain-\(UUID().uuidString.prefix(6)).yaml")
            try file.text.write(to: plain, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: plain) }
            let text = try await SopsTool.run(
                ["--config", "/dev/null", "-e", "--age", recipient] + (file.regex.map { ["--encrypted-regex", $0] } ?? []) + ["--input-type", json.contains(file.name) ? "json" : "yaml", "--output-type", json.contains(file.name) ? "json" : "yaml", plain.path])
            try text.write(to: checkout.appendingPathComponent("\(overlay)/\(file.name)"), atomically: true, encoding: .utf8)
            encrypted[file.name] = text
            listed += "  - \(file.name)\n"
        }
        let kustomization = checkout.appendingPathComponent("\(overlay)/kustomization.yaml")
        try (try String(contentsOf: kustomization, encoding: .utf8)).replacingOccurrences(of: "  - podinfo-auth.sops.yaml\n", with: "  - podinfo-auth.sops.yaml\n" + listed)
            .write(to: kustomization, atomically: true, encoding: .utf8)
        if let postBuild {
            let apps = checkout.appendingPathComponent("clusters/aws/staging/apps.yaml")
            try ((try String(contentsOf: apps, encoding: .utf8)) + "  postBuild:\n" + postBuild).write(to: apps, atomically: true, encoding: .utf8)
        }
        try await git(["init", "--quiet", "--initial-branch=main", checkout.path])
        try await git(["add", "-A"], in: checkout)
        try await git(["-c", "user.name=fixture", "-c", "user.email=fixture@fluxci.invalid", "commit", "--quiet", "-m", "fleet"], in: checkout)
        return (checkout, encrypted)
    }

    static func plan(_ checkout: URL, keys: Bool) async throws -> (ProcessResult, String) {
        let summary = checkout.deletingLastPathComponent().appendingPathComponent("summary-\(UUID().uuidString.prefix(6)).md")
        var environment = ["GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path, "TMPDIR": checkout.deletingLastPathComponent().path]
        if keys { environment["SOPS_AGE_KEY_FILE"] = FleetFixture.ageKey.path }
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--serve", "--cloud", "aws", "--env", "staging"], environment: environment, workingDirectory: checkout)
        return (result, (try? String(contentsOf: summary, encoding: .utf8)) ?? "")
    }

    static func line(_ text: String, _ prefix: String) throws -> String {
        String(try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(prefix) }) + 1)
    }

    /// No plaintext in stdout, stderr or the step summary (the `::add-mask::` lines the runner
    /// consumes aside), in any of its forms.
    static func expectNoLeak(_ result: ProcessResult, _ summary: String, _ values: [String]) {
        #expect(leakedSecrets(in: result.allOutput + summary, secrets: values).isEmpty, "\(leakedSecrets(in: result.allOutput + summary, secrets: values))")
    }

    // MARK: F15 — envsubst on the decrypted values

    /// The tester's shape: `${word` without its `}` in a decrypted stringData value. drone/envsubst
    /// cannot parse the decrypted object's YAML, so the build fails: an error at
    /// the value's key in the SOPS file, the value never shown.
    @Test func anUnparsableDollarBraceInADecryptedValueFailsTheBuild() async throws {
        let (checkout, encrypted) = try await Self.fleet(
            [("db.sops.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: podinfo\nstringData:\n  user: admin-USERVALUE-1\n  password: \"Zx9p4ss${word\"\n", "^(data|stringData)$")],
            postBuild: "    substitute:\n      env: staging\n")
        let (result, summary) = try await Self.plan(checkout, keys: true)
        #expect(result.status != 0, "\(result.allOutput)")
        let errors = KeyDependentMessagesTests.annotations(result.standardError, level: "error", title: "Substitution failed")
        #expect(errors.count == 1, "\(result.standardError)")
        let error = try #require(errors.first)
        let passwordLine = try Self.line(encrypted["db.sops.yaml"]!, "    password: ENC[")
        #expect(error.file == "\(Self.overlay)/db.sops.yaml" && error.line == passwordLine, "\(error)")
        #expect(error.text.contains("fails on the decrypted Secret/db") && error.text.contains("stringData.password") && error.text.contains("envsubst cannot parse"), "\(error.text)")
        #expect(error.text.contains("$${…}") && error.text.contains("substitute: disabled"), "\(error.text)")
        Self.expectNoLeak(result, summary, ["Zx9p4ss${word", "Zx9p4ss", "admin-USERVALUE-1"])
    }

    /// The neighbours: an undefined `${HOME}` is replaced by "" (a warning naming the variable
    /// at its key); a defined `${env}` is what the user asked for, `$${VAR}` is the text `${VAR}`,
    /// a `${default:=x}` has its default, and an object annotated substitute: disabled is left
    /// alone even with an unparsable `${` (the annotation is read on the decrypted object, here
    /// encrypted itself): all quiet. The plan passes.
    @Test func undefinedVariablesInDecryptedValuesAreWarningsAndTheRestIsQuiet() async throws {
        let (checkout, encrypted) = try await Self.fleet(
            [
                ("app.sops.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: podinfo\nstringData:\n  env: \"at-${env}-ENVVALUE\"\n  other: \"keep${HOME}this-OTHERVALUE\"\n  escaped: \"lit$${VAR}-ESCVALUE\"\n  defaulted: \"${NOPE:=dflt}-DEFVALUE\"\n", "^(data|stringData)$"),
                ("off.sops.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: off\n  namespace: podinfo\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\nstringData:\n  password: \"Zx9p4ss${word-OFFVALUE\"\n", nil),
                // A JSON SOPS file applied as an object (kustomize reads JSON resources).
                ("js.sops.json", #"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "js", "namespace": "podinfo"}, "stringData": {"fine": "a-${env}-JSFINEVALUE", "jsother": "b${UNSET_J}-JSVALUE"}}"#, "^(data|stringData)$"),
            ],
            postBuild: "    substitute:\n      env: staging\n", json: ["js.sops.json"])
        let (result, summary) = try await Self.plan(checkout, keys: true)
        #expect(result.status == 0, "\(result.allOutput)")
        let warnings = KeyDependentMessagesTests.annotations(result.standardError, level: "warning", title: "Variables not set")
        #expect(warnings.count == 2, "\(result.standardError)")
        let warning = try #require(warnings.first { $0.file.hasSuffix("app.sops.yaml") })
        let otherLine = try Self.line(encrypted["app.sops.yaml"]!, "    other: ENC[")
        #expect(warning.file == "\(Self.overlay)/app.sops.yaml" && warning.line == otherLine, "\(warning)")
        #expect(warning.text.contains("stringData.other of Secret/app") && warning.text.contains("reads a variable") && !warning.text.contains("HOME"), "\(warning.text)")
        let jsonWarning = try #require(warnings.first { $0.file == "\(Self.overlay)/js.sops.json" })
        let jsonLine = String(try #require(encrypted["js.sops.json"]!.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("\"jsother\": \"ENC[") }) + 1)
        #expect(jsonWarning.line == jsonLine && jsonWarning.text.contains("stringData.jsother of Secret/js") && jsonWarning.text.contains("reads a variable") && !jsonWarning.text.contains("UNSET_J"), "\(jsonWarning)")
        #expect(!result.standardError.contains("::error "), "\(result.standardError)")
        Self.expectNoLeak(result, summary, ["JSFINEVALUE", "JSVALUE", "at-${env}-ENVVALUE", "ENVVALUE", "OTHERVALUE", "ESCVALUE", "DEFVALUE", "OFFVALUE", "keep${HOME}this"])
    }

    // MARK: F9 — an object whose identity is encrypted

    /// The tester's shape: a Secret encrypted whole (no --encrypted-regex: apiVersion, kind and
    /// metadata.name are ENC[…]) with no namespace, applied by a Kustomization that sets none.
    /// Once decrypted the apply fails "namespace not specified": the same error as for the plain
    /// Secret, at the object's line. The fully encrypted ConfigMap with its namespace is fine.
    @Test func anObjectWhoseIdentityIsEncryptedIsCheckedOnceDecrypted() async throws {
        let (checkout, encrypted) = try await Self.fleet(
            [
                ("allenc.sops.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: allenc\nstringData:\n  token: tok-ALLENCVALUE-9\n", nil),
                ("cm.sops.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: podinfo\ndata:\n  mode: fast-CMVALUE-8\n", nil),
            ],
            postBuild: nil)
        let (result, summary) = try await Self.plan(checkout, keys: true)
        #expect(result.status != 0, "\(result.allOutput)")
        let errors = FleetFixture.problems(in: result.standardError).filter { $0.level == "error" }
        let missing = errors.filter { $0.file == "\(Self.overlay)/allenc.sops.yaml" }
        // At metadata.name, as for the plain Secret (its key is plain text in the SOPS file).
        let nameLine = try Self.line(encrypted["allenc.sops.yaml"]!, "    name: ENC[")
        #expect(missing.count == 1 && missing.first.map { String($0.line) } == nameLine && missing.first?.title == "Namespace not specified", "\(result.standardError)")
        #expect(result.standardError.contains("Secret/allenc") || result.standardError.contains("Secret allenc"), "\(result.standardError)")
        #expect(!errors.contains { $0.file == "\(Self.overlay)/cm.sops.yaml" }, "\(result.standardError)")
        #expect(!result.standardError.contains("title=Encrypted object not checked"), "\(result.standardError)")
        Self.expectNoLeak(result, summary, ["tok-ALLENCVALUE-9", "fast-CMVALUE-8"])

        // Without keys the object cannot be checked: a warning at each such file, nothing more.
        let (keyless, keylessSummary) = try await Self.plan(checkout, keys: false)
        let unchecked = KeyDependentMessagesTests.annotations(keyless.standardError, level: "warning", title: "Encrypted object not checked")
        #expect(Set(unchecked.map(\.file)) == ["\(Self.overlay)/allenc.sops.yaml", "\(Self.overlay)/cm.sops.yaml"], "\(keyless.standardError)")
        #expect(unchecked.allSatisfy { $0.text.contains("encrypted-regex '^(data|stringData)$'") })
        #expect(!FleetFixture.problems(in: keyless.standardError).contains { $0.level == "error" && $0.file.hasSuffix("allenc.sops.yaml") }, "\(keyless.standardError)")
        Self.expectNoLeak(keyless, keylessSummary, ["tok-ALLENCVALUE-9", "fast-CMVALUE-8"])
    }

    /// Tester t18 F11: a Flux object encrypted whole is checked as applied, decrypted: its chart
    /// source resolves (no "Unknown chart source … ENC[…]"), a typo in it is found, and its Helm
    /// values never show.
    @Test func aFluxObjectEncryptedWholeIsCheckedDecrypted() async throws {
        func release(_ name: String, source: String) -> String {
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: \(name)\n  namespace: podinfo\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: podinfo\n      sourceRef:\n        kind: HelmRepository\n        name: \(source)\n  values:\n    password: pw-HRVALUE-7\n"
        }
        let repository = ("repository.sops.yaml", "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: podinfo\nspec:\n  interval: 1h\n  url: https://charts.example.invalid\n", nil as String?)
        let (checkout, _) = try await Self.fleet([repository, ("release.sops.yaml", release("web", source: "charts"), nil)], postBuild: nil)
        let (result, summary) = try await Self.plan(checkout, keys: true)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(!result.standardError.contains("ENC[AES256_GCM"), "\(result.standardError)")
        Self.expectNoLeak(result, summary, ["pw-HRVALUE-7"])

        // A typo in the encrypted release's source is found, decrypted.
        let (typoCheckout, _) = try await Self.fleet([repository, ("typo.sops.yaml", release("typo", source: "chrts"), nil)], postBuild: nil)
        let (typoResult, typoSummary) = try await Self.plan(typoCheckout, keys: true)
        let typoLine = typoResult.standardError.split(separator: "\n").first { $0.hasPrefix("::error title=Unknown chart source,file=\(Self.overlay)/typo.sops.yaml") }
        #expect(typoLine?.contains("Did you mean charts?") == true, "\(typoResult.standardError)")
        #expect(!typoResult.standardError.contains("ENC[AES256_GCM"), "\(typoResult.standardError)")
        Self.expectNoLeak(typoResult, typoSummary, ["pw-HRVALUE-7"])

        // Rejected by the CRD once decrypted: the rule's message, never the decrypted value nor
        // the ciphertext (a field the decryption changed is not "what postBuild substitution gives").
        let both = release("both", source: "charts").replacingOccurrences(of: "  interval: 10m\n", with: "  interval: 987654\n  chartRef: {kind: OCIRepository, name: web}\n")
        let (rejectedCheckout, _) = try await Self.fleet([repository, ("both.sops.yaml", both, nil)], postBuild: nil)
        let (rejected, rejectedSummary) = try await Self.plan(rejectedCheckout, keys: true)
        let schema = KeyDependentMessagesTests.annotations(rejected.standardError, level: "error", title: "Rejected by the CRD schema")
        #expect(schema.count == 2 && schema.allSatisfy { $0.file == "\(Self.overlay)/both.sops.yaml" }, "\(rejected.standardError)")
        #expect(schema.contains { $0.text.contains("either chart or chartRef must be set") } && schema.contains { $0.text.contains("spec.interval") }, "\(rejected.standardError)")
        #expect(schema.allSatisfy { !$0.text.contains("postBuild substitution") }, "\(rejected.standardError)")
        #expect(!rejected.standardError.contains("ENC[AES256_GCM"), "\(rejected.standardError)")
        Self.expectNoLeak(rejected, rejectedSummary, ["pw-HRVALUE-7", "987654"])
    }

    // MARK: t18 F9 — a decrypted value that holds ${…}

    /// Tester t18 F9: the preflight leaves a decrypted value holding `${` to the substitution;
    /// it is then judged as applied. With postBuild variables, `data.token: ${B64}` becomes
    /// `bad!!value` (not base64: an error at the key's line) and `stringData.port: ${PORT}`
    /// becomes the number 8080 (Flux parses the substituted YAML again: an error), while
    /// `data.ok: ${OKB64}` is valid base64 (quiet). Without postBuild the literal `${B64}` is
    /// applied and refused. No decrypted value shows.
    @Test func aDecryptedValueHoldingAVariableIsJudgedAsApplied() async throws {
        let secret = ("b64.sops.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: b64\n  namespace: podinfo\ndata:\n  token: ${B64}\n  ok: ${OKB64}\nstringData:\n  port: ${PORT}\n  note: plain-NOTEVALUE-3\n", "^(data|stringData)$" as String?)
        let (checkout, encrypted) = try await Self.fleet([secret], postBuild: "    substitute:\n      B64: bad!!value\n      OKB64: aGVsbG8=\n      PORT: \"8080\"\n")
        let (result, summary) = try await Self.plan(checkout, keys: true)
        #expect(result.status != 0, "\(result.allOutput)")
        let file = "\(Self.overlay)/b64.sops.yaml"
        let notBase64 = KeyDependentMessagesTests.annotations(result.standardError, level: "error", title: "Value not base64")
        let tokenLine = try Self.line(encrypted["b64.sops.yaml"]!, "    token: ENC[")
        #expect(notBase64.count == 1 && notBase64.first?.file == file && notBase64.first.map { String($0.line) } == tokenLine, "\(result.standardError)")
        #expect(notBase64.first?.text.contains("data.token") == true && notBase64.first?.text.contains("after postBuild substitution") == true, "\(result.standardError)")
        let nonString = KeyDependentMessagesTests.annotations(result.standardError, level: "error", title: "Non-string value in a string field")
        let portLine = try Self.line(encrypted["b64.sops.yaml"]!, "    port: ENC[")
        #expect(nonString.count == 1 && nonString.first.map { String($0.line) } == portLine, "\(result.standardError)")
        #expect(nonString.first?.text.contains("once its decrypted ${…} is substituted") == true && nonString.first?.text.contains("quotes in the variable's value") == true, "\(result.standardError)")
        Self.expectNoLeak(result, summary, ["plain-NOTEVALUE-3"])

        let (literal, _) = try await Self.fleet([secret], postBuild: nil)
        let (literalResult, literalSummary) = try await Self.plan(literal, keys: true)
        #expect(literalResult.status != 0, "\(literalResult.allOutput)")
        let literalErrors = KeyDependentMessagesTests.annotations(literalResult.standardError, level: "error", title: "Value not base64")
        #expect(Set(literalErrors.map(\.text).compactMap { $0.contains("data.token") ? "token" : $0.contains("data.ok") ? "ok" : nil }) == ["token", "ok"], "\(literalResult.standardError)")
        #expect(literalErrors.allSatisfy { $0.text.contains("applied as written") }, "\(literalResult.standardError)")
        #expect(KeyDependentMessagesTests.annotations(literalResult.standardError, level: "error", title: "Non-string value in a string field").isEmpty, "\(literalResult.standardError)")
        Self.expectNoLeak(literalResult, literalSummary, ["plain-NOTEVALUE-3"])
    }
}
