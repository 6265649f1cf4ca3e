//! The `veil` binary: everything happens in `veil::cli`.

fn main() -> std::process::ExitCode {
    veil::cli::main()
}
