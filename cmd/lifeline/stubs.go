package main

import "errors"

type demoCmd struct{}

func (demoCmd) Run(e *env) error { return errors.New("demo: not built yet") }

type runCmd struct{}

func (runCmd) Run(e *env) error { return errors.New("run: not built yet") }

type rulesCmd struct{}
