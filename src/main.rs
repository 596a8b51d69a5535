fn main() {
    std::process::exit(tcc::cli::main());
}
