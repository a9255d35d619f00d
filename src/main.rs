fn main() {
    println!("plainsock");
}
