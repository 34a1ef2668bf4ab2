// ConnectionTable behind the BenchTable protocol (waits for the table's API on main).
func measureSwiftTable(entries: Int, options: Options, report: (Measurement) -> Void) {
    print("{\"error\":\"ConnectionTable is not on main yet\",\"impl\":\"swift\"}")
}
