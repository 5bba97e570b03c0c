import Testing

@testable import Actions

@Suite struct StepSummaryTests {
    @Test func tablesEscapeUntrustedCells() {
        var summary = StepSummary()
        summary.heading("Files")
        summary.table(header: ["File", "Result"], rows: [["a|b.yaml", "<script>x</script>\nsecond line"]])
        #expect(summary.markdown() == """
            ## Files

            | File | Result |
            | --- | --- |
            | a\\|b.yaml | &lt;script&gt;x&lt;/script&gt;<br>second line |


            """)
    }

    @Test func detailsAndCode() {
        var summary = StepSummary()
        summary.details("Events", [.code("a ``` b")])
        #expect(summary.markdown() == "<details><summary>Events</summary>\n\n````\na ``` b\n````\n\n</details>\n\n")
    }

    @Test func staysUnderTheLimitAndSaysWhatItCut() {
        var summary = StepSummary()
        summary.heading("Many")
        summary.table(header: ["n"], rows: (0..<50_000).map { ["row number \($0) with some padding text"] })
        let markdown = summary.markdown()
        #expect(markdown.utf8.count <= StepSummary.maximumBytes)
        #expect(markdown.contains("| row number 0 with some padding text |"))
        #expect(!markdown.contains("| row number 49999 "))
        #expect(markdown.contains("The summary was cut"))
    }

    /// A terminal gets no Mermaid, and no heading left titling nothing (seen at the end of
    /// `e2e --plan`: an empty "What a run waits for" section).
    @Test func plainTextLeavesOutTheGraphAndItsHeading() {
        var summary = StepSummary()
        summary.heading("What a run waits for", level: 3)
        summary.mermaid("flowchart LR\n  a --> b")
        summary.heading("Objects", level: 3)
        summary.mermaid("flowchart LR\n  c --> d")
        summary.paragraph("kept")
        let text = summary.plainText
        #expect(!text.contains("What a run waits for") && !text.contains("flowchart"), "\(text)")
        #expect(text.contains("Objects") && text.contains("kept"), "a heading over more than a graph stays: \(text)")
        #expect(summary.markdown().contains("What a run waits for") && summary.markdown().contains("```mermaid"), "GitHub gets both")
    }

    @Test func plainTextAlignsColumns() {
        var summary = StepSummary()
        summary.table(header: ["Name", "Ready"], rows: [["apps", "True"], ["infrastructure", "False"]])
        #expect(summary.plainText == """
            Name            Ready
            --------------  -----
            apps            True
            infrastructure  False

            """)
    }

    /// Tester t6 finding 2: on GitHub the log's tables got the link markers (U+E000…) and the URL
    /// cut to the column width, and `gotk-sync.yaml:16` cut to `:1`: rows were printed from the
    /// raw cells while the widths were measured on the resolved ones. A log table shows
    /// `file:line` as a terminal does, whole; a multi-line cell stays on its row; a cell whose
    /// UTF-16 length exceeds its Character count (decomposed é, an astral emoji) is not cut.
    @Test func plainTextTablesShowLinksAsTheirTextAndCutNothing() {
        var summary = StepSummary()
        let link = StepSummary.link("clusters/kind/local/flux-system/gotk-sync.yaml:16", "https://github.example/acme/fleet/blob/abc/clusters/kind/local/flux-system/gotk-sync.yaml#L16")
        summary.table(header: ["Object", "Written at", "Ready"], rows: [
            ["Kustomization/flux-system/flux-system", link, "True"],
            ["Kustomization/flux-system/other", StepSummary.link("x.yaml:12", "https://github.example/x"), "False"],
            ["cafe\u{301}\u{1F600}", "e\u{301}e\u{301}e\u{301}.yaml:3", "Fix:\nsecond"],
        ])
        let text = summary.plainText
        #expect(!text.unicodeScalars.contains { (0xE000...0xF8FF).contains($0.value) }, "\(text.debugDescription)")
        #expect(!text.contains("https://"), "\(text)")
        #expect(text == """
            Object                                 Written at                                         Ready
            -------------------------------------  -------------------------------------------------  -----------
            Kustomization/flux-system/flux-system  clusters/kind/local/flux-system/gotk-sync.yaml:16  True
            Kustomization/flux-system/other        x.yaml:12                                          False
            cafe\u{301}\u{1F600}                                  e\u{301}e\u{301}e\u{301}.yaml:3                                         Fix: second

            """, "\(text)")
    }
}
