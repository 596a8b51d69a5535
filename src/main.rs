fn main() -> std::process::ExitCode {
    tcc::cli::main().into()
}
