fn main() {
    std::process::exit(mcpi::app::main());
}
