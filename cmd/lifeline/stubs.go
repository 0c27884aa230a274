package main

type rulesCmd struct{}
