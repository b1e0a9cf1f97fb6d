@echo off
rem The Swarm CLI of this clone, on Windows: runs the built CLI in dist (npm install builds it).
node "%~dp0dist\cli\main.js" %*
